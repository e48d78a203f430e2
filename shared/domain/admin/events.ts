/** keys-admin events (SPEC §6), validated at the function's edge. */
import * as z from '../zod.js';

export const MAX_GRACE_SECONDS = 604_800;
export const MAX_LIST_LIMIT = 1000;
export const DEFAULT_LIST_LIMIT = 100;

const userId = z
  .string()
  .check(
    z.regex(
      /^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$/,
      'userId must be 1-128 chars of letters, digits and ._@:+-',
    ),
  );
const keyId = z.string().check(z.regex(/^key_[0-9A-Za-z]{1,64}$/, 'keyId looks like "key_…"'));
const projectId = z.string().check(z.minLength(1), z.maxLength(128));
const name = z.string().check(z.minLength(1), z.maxLength(64));
const isoInstant = z.iso.datetime({ offset: true });

export const createUserEvent = z.strictObject({
  action: z.literal('create-user'),
  userId,
  defaultProjectId: z.optional(projectId),
});
export const createKeyEvent = z.strictObject({
  action: z.literal('create'),
  userId,
  name: z.optional(name),
  projectId: z.optional(projectId),
  expiresAt: z.optional(isoInstant),
});
export const listKeysEvent = z.strictObject({
  action: z.literal('list'),
  userId,
  limit: z.optional(z.number().check(z.int(), z.gte(1), z.lte(MAX_LIST_LIMIT))),
  nextToken: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
});
export const getKeyEvent = z.strictObject({ action: z.literal('get'), userId, keyId });
export const revokeKeyEvent = z.strictObject({
  action: z.literal('revoke'),
  userId,
  keyId,
  reason: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
});
export const rotateKeysEvent = z.strictObject({
  action: z.literal('rotate'),
  userId,
  keyId: z.optional(keyId),
  graceSeconds: z.optional(
    z
      .number()
      .check(
        z.int(),
        z.gte(0),
        z.lte(MAX_GRACE_SECONDS, `graceSeconds must be at most ${MAX_GRACE_SECONDS} (7 days)`),
      ),
  ),
  name: z.optional(name),
});

/** Beyond SPEC §6: suspension is stamped onto the user's keys so verification stays one UpdateItem. */
export const suspendUserEvent = z.strictObject({ action: z.literal('suspend-user'), userId });
export const reactivateUserEvent = z.strictObject({ action: z.literal('reactivate-user'), userId });

export const adminEventSchema = z.discriminatedUnion('action', [
  createUserEvent,
  createKeyEvent,
  listKeysEvent,
  getKeyEvent,
  revokeKeyEvent,
  rotateKeysEvent,
  suspendUserEvent,
  reactivateUserEvent,
]);

export type AdminEvent = z.infer<typeof adminEventSchema>;
export type AdminAction = AdminEvent['action'];
export const ADMIN_ACTIONS: readonly AdminAction[] = [
  'create-user',
  'create',
  'list',
  'get',
  'revoke',
  'rotate',
  'suspend-user',
  'reactivate-user',
];
