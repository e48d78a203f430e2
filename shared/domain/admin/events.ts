/** keys-admin events (SPEC §6), validated at the function's edge. */
import * as z from 'zod';

export const MAX_GRACE_SECONDS = 604_800;
export const MAX_LIST_LIMIT = 1000;
export const DEFAULT_LIST_LIMIT = 100;

const userId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$/, 'userId must be 1-128 chars of letters, digits and ._@:+-');
const keyId = z.string().regex(/^key_[0-9A-Za-z]{1,64}$/, 'keyId looks like "key_…"');
const projectId = z.string().min(1).max(128);
const name = z.string().min(1).max(64);
const isoInstant = z.iso.datetime({ offset: true });

export const createUserEvent = z.strictObject({
  action: z.literal('create-user'),
  userId,
  defaultProjectId: projectId.optional(),
});
export const createKeyEvent = z.strictObject({
  action: z.literal('create'),
  userId,
  name: name.optional(),
  projectId: projectId.optional(),
  expiresAt: isoInstant.optional(),
});
export const listKeysEvent = z.strictObject({
  action: z.literal('list'),
  userId,
  limit: z.number().int().min(1).max(MAX_LIST_LIMIT).optional(),
  nextToken: z.string().min(1).max(2048).optional(),
});
export const getKeyEvent = z.strictObject({ action: z.literal('get'), userId, keyId });
export const revokeKeyEvent = z.strictObject({
  action: z.literal('revoke'),
  userId,
  keyId,
  reason: z.string().min(1).max(256).optional(),
});
export const rotateKeysEvent = z.strictObject({
  action: z.literal('rotate'),
  userId,
  keyId: keyId.optional(),
  graceSeconds: z
    .number()
    .int()
    .min(0)
    .max(MAX_GRACE_SECONDS, `graceSeconds must be at most ${MAX_GRACE_SECONDS} (7 days)`)
    .optional(),
  name: name.optional(),
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
