/** Domain errors the repositories translate SDK condition failures into. */
export class RepositoryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** The key's hash already exists (a 256-bit collision, or an injected one in tests). */
export class KeyCollisionError extends RepositoryError {}
/** The foreign key failed: the user is missing or not active. */
export class UserNotActiveError extends RepositoryError {
  constructor(readonly reason: 'missing' | 'suspended') {
    super(reason === 'missing' ? 'user does not exist' : 'user is suspended');
  }
}
export class UserExistsError extends RepositoryError {}
/** The conditional update found the key in another state than required. */
export class KeyStateError extends RepositoryError {}
