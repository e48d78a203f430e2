/**
 * Where the local runtime listens and what it names its functions (SPEC §2, §8): served by
 * `local/` and called by `ops/` (the CLI's default target), so both read it from here.
 */
export const DEFAULT_PORT = 8443;
export const DEFAULT_LAMBDA_PORT = 3001;
export const DEFAULT_DYNAMODB_PORT = 8000;

/** The functions the local Lambda Invoke API serves, by the names callers use. */
export const LOCAL_INVOKABLE_FUNCTIONS = ['keys-admin', 'reference-brain'] as const;
