/** keys-admin events (SPEC §6), validated at the function's edge. */
import { MAX_BUDGET_USD, type Micros, parseUsd } from '../budgets/money.js';
import { MAX_LIMIT, MAX_WINDOW_SECONDS } from '../keys/limits.js';
import { QUOTA_PERIODS } from '../keys/model.js';
import { MAX_SHARDS, MIN_SHARDS } from '../keys/shards.js';
import { OPERATION_TYPES, PROVIDER_PATTERN } from '../requests/schema.js';
import { maxStringLength } from '../validation.js';
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
const projectId = z.string().check(z.minLength(1), ...maxStringLength(128));
const name = z.string().check(z.minLength(1), ...maxStringLength(64));
const isoInstant = z.iso.datetime({ offset: true });

/** Entries per scope list. */
export const MAX_SCOPE_ENTRIES = 32;
/**
 * A key's scopes as JSON (UTF-8) at most this size: the key item, which every request
 * rewrites, stays under 1 KB (SPEC §5) with room for its identity, limits and counters.
 */
export const MAX_SCOPES_BYTES = 256;
export const MAX_MODEL_LENGTH = 128;

const limitCount = z
  .number()
  .check(z.int(), z.gte(1), z.lte(MAX_LIMIT, `a limit must be at most ${MAX_LIMIT}`));

/** At most `limit` admitted calls per fixed window of `windowSeconds` (aligned to the Unix epoch). */
export const rateLimitSchema = z.strictObject({
  limit: limitCount,
  windowSeconds: z
    .number()
    .check(
      z.int(),
      z.gte(1),
      z.lte(MAX_WINDOW_SECONDS, `windowSeconds must be at most ${MAX_WINDOW_SECONDS} (1 day)`),
    ),
});

/** At most `limit` admitted calls per UTC day, calendar month, or in the key's whole life. */
export const quotaSchema = z.strictObject({ limit: limitCount, period: z.enum(QUOTA_PERIODS) });

/**
 * A USD amount (a JSON number) > 0, ≤ 1,000,000 and exact in micro-dollars (at most 6
 * decimals), read as micro-dollars: money is an integer from the edge inward (SPEC §5b). A
 * float with more decimals is refused, never rounded: an operator's limit is taken exactly.
 */
const usdAmount = z.pipe(
  z.number().check(
    z.gt(0, 'an amount must be more than 0 USD'),
    z.lte(MAX_BUDGET_USD, `an amount must be at most ${MAX_BUDGET_USD} USD`),
    z.refine(
      (usd) => usd <= 0 || usd > MAX_BUDGET_USD || parseUsd(usd) !== undefined,
      'an amount has at most 6 decimals (whole micro-dollars), such as 0.000001',
    ),
  ),
  z.transform((usd) => parseUsd(usd) as Micros),
);

/**
 * At most `limit` USD of brain payments per UTC day, calendar month, or in the key's whole
 * life; each call holds `perCallHold` while it runs (default: the stage's, capped at the
 * limit; see shared/domain/budgets/admin.ts). Read as micro-dollars.
 */
export const budgetSchema = z
  .strictObject({
    limit: usdAmount,
    period: z.enum(QUOTA_PERIODS),
    perCallHold: z.optional(usdAmount),
  })
  .check(
    z.refine((budget) => budget.perCallHold === undefined || budget.perCallHold <= budget.limit, {
      message: 'perCallHold must be at most the limit (one call cannot need more than the whole budget)',
      path: ['perCallHold'],
    }),
  );

/**
 * How many items a key counts on (docs/decisions/0012-sharded-keys.md): 1 is its own item; 2–64
 * shard items, for one key beyond one item's write ceiling (~1,000 requests/s).
 */
export const shardsSchema = z
  .number()
  .check(
    z.int('shards must be a whole number'),
    z.gte(MIN_SHARDS, `shards must be at least ${MIN_SHARDS}`),
    z.lte(MAX_SHARDS, `shards must be at most ${MAX_SHARDS}`),
  );

/** A non-empty allow-list of distinct entries. */
const allowList = <T extends z.ZodMiniType<string>>(entry: T) =>
  z.array(entry).check(
    z.minLength(1, 'an allow-list names at least one entry (omit it to allow everything)'),
    z.maxLength(MAX_SCOPE_ENTRIES, `an allow-list has at most ${MAX_SCOPE_ENTRIES} entries`),
    z.refine((entries) => new Set(entries).size === entries.length, 'entries must be distinct'),
  );

const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}]/u;

/** As the request's `provider`, `model` and `operation_type` (SPEC §3); a model may end in `*` (a prefix). */
export const scopesSchema = z
  .strictObject({
    providers: z.optional(
      allowList(
        z.string().check(z.regex(PROVIDER_PATTERN, 'a provider is a lowercase slug such as "openai"')),
      ),
    ),
    models: z.optional(
      allowList(
        z.string().check(
          z.minLength(1),
          ...maxStringLength(MAX_MODEL_LENGTH),
          z.refine(
            (model) => !CONTROL_OR_FORMAT.test(model),
            'control and format characters are not allowed',
          ),
          z.refine(
            (model) => !model.slice(0, -1).includes('*'),
            'a "*" may only end a model entry (it matches a prefix)',
          ),
        ),
      ),
    ),
    operations: z.optional(allowList(z.enum(OPERATION_TYPES))),
  })
  .check(
    z.refine(
      (scopes) =>
        scopes.providers !== undefined || scopes.models !== undefined || scopes.operations !== undefined,
      'scopes name at least one of providers, models, operations',
    ),
    z.refine(
      (scopes) => Buffer.byteLength(JSON.stringify(scopes), 'utf8') <= MAX_SCOPES_BYTES,
      `scopes must be at most ${MAX_SCOPES_BYTES} bytes as JSON (the key item stays under 1 KB); use model prefixes ("gpt-4o*")`,
    ),
  );

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
  rateLimit: z.optional(rateLimitSchema),
  quota: z.optional(quotaSchema),
  budget: z.optional(budgetSchema),
  scopes: z.optional(scopesSchema),
  shards: z.optional(shardsSchema),
});

/**
 * The settings `update` may change: a value sets it, `null` clears it, an absent field stays as
 * it is (`shards` is never null: 1 is a key counted on its own item).
 */
export const UPDATE_FIELDS = [
  'name',
  'expiresAt',
  'rateLimit',
  'quota',
  'budget',
  'scopes',
  'shards',
] as const;

export const updateKeyEvent = z
  .strictObject({
    action: z.literal('update'),
    userId,
    keyId,
    name: z.optional(z.nullable(name)),
    expiresAt: z.optional(z.nullable(isoInstant)),
    rateLimit: z.optional(z.nullable(rateLimitSchema)),
    quota: z.optional(z.nullable(quotaSchema)),
    budget: z.optional(z.nullable(budgetSchema)),
    scopes: z.optional(z.nullable(scopesSchema)),
    shards: z.optional(shardsSchema),
  })
  .check(
    z.refine((event) => UPDATE_FIELDS.some((field) => event[field] !== undefined), {
      message: `update changes at least one of ${UPDATE_FIELDS.join(', ')} (null clears it; shards is never null)`,
    }),
  );
/** A page of a user's keys: at most `limit` of them, after the key `nextToken` names. */
const pageLimit = z.number().check(z.int(), z.gte(1), z.lte(MAX_LIST_LIMIT));
const pageToken = z.string().check(z.minLength(1), ...maxStringLength(2048));

export const listKeysEvent = z.strictObject({
  action: z.literal('list'),
  userId,
  limit: z.optional(pageLimit),
  nextToken: z.optional(pageToken),
});
export const getKeyEvent = z.strictObject({ action: z.literal('get'), userId, keyId });
/**
 * Beyond SPEC §6 (read-only): the user's keys as `list` pages them, or the one key `keyId`
 * names, each with its counters, current rate window and quota period, and why it would be
 * refused right now.
 */
export const keyUsageEvent = z
  .strictObject({
    action: z.literal('usage'),
    userId,
    keyId: z.optional(keyId),
    limit: z.optional(pageLimit),
    nextToken: z.optional(pageToken),
  })
  .check(
    z.refine(
      (event) => event.keyId === undefined || (event.limit === undefined && event.nextToken === undefined),
      {
        message: "keyId names one key: limit and nextToken page all the user's keys, give them without keyId",
      },
    ),
  );
export const revokeKeyEvent = z.strictObject({
  action: z.literal('revoke'),
  userId,
  keyId,
  reason: z.optional(z.string().check(z.minLength(1), ...maxStringLength(256))),
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
  updateKeyEvent,
  listKeysEvent,
  getKeyEvent,
  keyUsageEvent,
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
  'update',
  'list',
  'get',
  'usage',
  'revoke',
  'rotate',
  'suspend-user',
  'reactivate-user',
];
