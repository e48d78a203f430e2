/**
 * Idempotency-Key records on their own table (SPEC §3; the state machine and who may move
 * each state: docs/decisions/0003-idempotency.md). Every move is one conditional write
 * fenced by the attempt number, so two attempts never both hold a key, and a write of a
 * superseded attempt changes nothing.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompress, constants as zlib } from 'node:zlib';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type {
  BeginOutcome,
  ClaimTimes,
  IdempotencyClaim,
  IdempotencyStore,
  StoredAnswer,
} from '../../domain/requests/ports.js';
import { outcomeUnknown } from './write-retries.js';

export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
/**
 * DynamoDB's item limit is 400 KB (409,600 bytes) including attribute names; the record's
 * other attributes take < 1 KB, so a compressed answer up to this size always fits.
 */
export const MAX_STORED_ANSWER_BYTES = 400_000;
/** Takeovers lost to a concurrent attempt before `begin` reports the key busy. */
const MAX_BEGIN_ROUNDS = 3;
/**
 * Sends of one claim write whose outcome stayed unknown (timeout, lost answer). Repeating is
 * safe: each claim names its holder (the request's own id), so a repeat that finds it knows
 * the first send took the key (docs/decisions/0011-exact-under-late-answers.md).
 */
const CLAIM_SENDS = 3;

type RecordStatus = 'in_progress' | 'in_doubt' | 'completed' | 'unreplayable';

export interface IdempotencyItem {
  id: string;
  body_hash: string;
  status: RecordStatus;
  /** Epoch seconds; DynamoDB TTL removes the record a while after it (24 h after the first claim). */
  expires_at_epoch: number;
  /** The first attempt's request id: every attempt sends it to the brain. */
  request_id?: string;
  /** Fencing token, 1 for the first attempt; absent on records written before attempts existed. */
  attempt?: number;
  /** The request id of the attempt holding the claim: a repeated claim write recognises its own. */
  holder?: string;
  /** in_progress: when the holder should be done (epoch ms). */
  expected_by?: number;
  /** in_progress: when the brain has surely stopped even if the holder died (epoch ms). */
  settles_by?: number;
  /** in_doubt: no retry before this (epoch ms). */
  retry_at?: number;
  /** An attempt may have reached the brain: a release keeps the record. */
  doubted?: boolean;
  answer_status?: number;
  answer_request_id?: string;
  /** The answer's JSON, brotli-compressed. */
  answer_body?: Uint8Array;
  /** Uncompressed size of the answer (kept for an unreplayable one too: logs and support). */
  answer_bytes?: number;
  /** Records written before compression: the answer as a map, and the old in-progress deadline. */
  answer?: StoredAnswer;
  in_progress_until?: number;
}

/** JSON with object keys sorted, so the same parsed body hashes the same however it was spelled. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, child]) => `${JSON.stringify(key)}:${canonicalJson(child)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** Scoped to the user; hashed so the caller's key text never becomes a table key. */
export function idempotencyRecordId(userId: string, idempotencyKey: string): string {
  return sha256(`${userId}\u0000${idempotencyKey}`);
}

const compress = promisify(brotliCompress);
const decompress = promisify(brotliDecompress);

/** Quality 5: about gzip's speed with a better ratio on JSON; 11 (the default) costs ~50× the time. */
function compressAnswer(text: Buffer): Promise<Buffer> {
  return compress(text, {
    params: {
      [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT,
      [zlib.BROTLI_PARAM_QUALITY]: 5,
      [zlib.BROTLI_PARAM_SIZE_HINT]: text.length,
    },
  });
}

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;
/** DynamoDB refuses an item over 400 KB with a ValidationException naming the size. */
const isItemTooLarge = (error: unknown) =>
  error instanceof Error && error.name === 'ValidationException' && /size/i.test(error.message);

/** A write fenced by an attempt that no longer holds the claim: someone took it over. */
export class ClaimLostError extends Error {
  override readonly name = 'ClaimLostError';
}

export interface IdempotencyStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
}

export class DynamoIdempotencyStore implements IdempotencyStore {
  constructor(private readonly options: IdempotencyStoreOptions) {}

  async begin(
    userId: string,
    idempotencyKey: string,
    body: unknown,
    requestId: string,
    times: ClaimTimes,
  ): Promise<BeginOutcome> {
    const recordId = idempotencyRecordId(userId, idempotencyKey);
    const bodyHash = sha256(canonicalJson(body));
    const { now } = times;
    for (let round = 0; round < MAX_BEGIN_ROUNDS; round += 1) {
      const existing = await this.claimFresh(recordId, bodyHash, requestId, times);
      if (!existing) return { kind: 'claimed', claim: { recordId, attempt: 1, requestId, doubted: false } };
      if (existing.body_hash !== bodyHash) return { kind: 'different_body' };
      const originalId = existing.request_id ?? existing.answer_request_id ?? requestId;

      if (existing.status === 'completed') return { kind: 'replay', answer: await storedAnswerOf(existing) };
      if (existing.status === 'unreplayable') return { kind: 'unreplayable', requestId: originalId };
      if (existing.status === 'in_progress') {
        const settlesBy = existing.settles_by ?? existing.in_progress_until ?? 0;
        if (now < settlesBy) {
          const expectedBy = existing.expected_by ?? settlesBy;
          return {
            kind: 'busy',
            state: 'in_progress',
            retryAt: expectedBy > now ? expectedBy : settlesBy,
            requestId: originalId,
          };
        }
      } else if (now < (existing.retry_at ?? 0)) {
        return { kind: 'busy', state: 'in_doubt', retryAt: existing.retry_at ?? now, requestId: originalId };
      }

      // A lapsed claim (its holder died) or a doubt whose wait is over: take it over, same request id.
      const claim = await this.takeOver(existing, requestId, times);
      if (claim) return { kind: 'claimed', claim };
      // Another attempt took it first: look again.
    }
    return { kind: 'busy', state: 'in_progress', retryAt: times.expectedBy, requestId };
  }

  async complete(claim: IdempotencyClaim, answer: StoredAnswer): Promise<'stored' | 'unreplayable'> {
    const text = Buffer.from(answer.body, 'utf8');
    const compressed = await compressAnswer(text);
    if (compressed.length > MAX_STORED_ANSWER_BYTES) {
      await this.markUnreplayable(claim, text.length);
      return 'unreplayable';
    }
    try {
      await this.moveClaim(
        claim,
        'SET #status = :completed, answer_status = :statusCode, answer_request_id = :answerRequestId, answer_body = :body, answer_bytes = :bytes REMOVE expected_by, settles_by, retry_at, in_progress_until',
        {
          ':completed': 'completed',
          ':statusCode': answer.statusCode,
          ':answerRequestId': answer.requestId,
          ':body': compressed,
          ':bytes': text.length,
        },
      );
      return 'stored';
    } catch (error) {
      if (!isItemTooLarge(error)) throw error;
      await this.markUnreplayable(claim, text.length);
      return 'unreplayable';
    }
  }

  async markInDoubt(claim: IdempotencyClaim, retryAt: number): Promise<void> {
    await this.moveClaim(
      claim,
      'SET #status = :inDoubt, retry_at = :retryAt, doubted = :true REMOVE expected_by, settles_by, in_progress_until',
      { ':inDoubt': 'in_doubt', ':retryAt': retryAt, ':true': true },
    );
  }

  async release(claim: IdempotencyClaim, now: number): Promise<void> {
    try {
      if (claim.doubted) {
        // An earlier attempt may have reached the brain: keep its request id, retryable at once.
        await this.moveClaim(
          claim,
          'SET #status = :inDoubt, retry_at = :now REMOVE expected_by, settles_by, in_progress_until',
          { ':inDoubt': 'in_doubt', ':now': now },
        );
        return;
      }
      await this.options.client.send(
        new DeleteCommand({
          TableName: this.options.tableName,
          Key: { id: claim.recordId },
          ...heldBy(claim),
        }),
      );
    } catch (error) {
      // Already moved by the attempt that took it over: nothing of ours left to release.
      if (!(error instanceof ClaimLostError) && !isConditionFailure(error)) throw error;
    }
  }

  /** Puts a fresh claim; answers the existing record instead when the key is taken. */
  private async claimFresh(
    recordId: string,
    bodyHash: string,
    requestId: string,
    times: ClaimTimes,
  ): Promise<IdempotencyItem | undefined> {
    const item: IdempotencyItem = {
      id: recordId,
      body_hash: bodyHash,
      status: 'in_progress',
      request_id: requestId,
      attempt: 1,
      holder: requestId,
      expires_at_epoch: Math.floor(times.now / 1000) + IDEMPOTENCY_TTL_SECONDS,
      expected_by: times.expectedBy,
      settles_by: times.settlesBy,
    };
    const existing = await sendClaim(async () => {
      try {
        await this.options.client.send(
          new PutCommand({
            TableName: this.options.tableName,
            Item: item,
            // Free, or expired (TTL deletion lags by up to days).
            ConditionExpression: 'attribute_not_exists(id) OR expires_at_epoch < :nowSeconds',
            ExpressionAttributeValues: { ':nowSeconds': Math.floor(times.now / 1000) },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return undefined;
      } catch (error) {
        if (!isConditionFailure(error) || !(error as ConditionalCheckFailedException).Item) throw error;
        return unmarshall((error as ConditionalCheckFailedException).Item ?? {}) as IdempotencyItem;
      }
    });
    // An earlier send of this very claim was applied and its answer came late or was lost.
    if (existing && existing.holder === requestId && existing.attempt === 1) return undefined;
    return existing;
  }

  /** The next attempt of a lapsed or retryable record; undefined when another attempt moved it first. */
  private async takeOver(
    existing: IdempotencyItem,
    requestId: string,
    times: ClaimTimes,
  ): Promise<IdempotencyClaim | undefined> {
    const seenAttempt = existing.attempt ?? 0;
    const taken = await sendClaim(async () => {
      try {
        const result = await this.options.client.send(
          new UpdateCommand({
            TableName: this.options.tableName,
            Key: { id: existing.id },
            UpdateExpression:
              'SET #status = :inProgress, attempt = :next, holder = :holder, expected_by = :expectedBy, settles_by = :settlesBy, doubted = :true, request_id = if_not_exists(request_id, :requestId) REMOVE retry_at, in_progress_until',
            ConditionExpression:
              seenAttempt === 0
                ? '#status = :seenStatus AND attribute_not_exists(attempt)'
                : '#status = :seenStatus AND attempt = :seenAttempt',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':inProgress': 'in_progress',
              ':next': seenAttempt + 1,
              ':holder': requestId,
              ':expectedBy': times.expectedBy,
              ':settlesBy': times.settlesBy,
              ':true': true,
              ':requestId': requestId,
              ':seenStatus': existing.status,
              ...(seenAttempt === 0 ? {} : { ':seenAttempt': seenAttempt }),
            },
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return result.Attributes as IdempotencyItem | undefined;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        const now = (error as ConditionalCheckFailedException).Item;
        const current = now ? (unmarshall(now) as IdempotencyItem) : undefined;
        // Our own earlier send took it over (its answer came late or was lost): ours still.
        return current?.holder === requestId && current.attempt === seenAttempt + 1 ? current : null;
      }
    });
    if (taken === null) return undefined;
    return {
      recordId: existing.id,
      attempt: seenAttempt + 1,
      requestId: taken?.request_id ?? requestId,
      doubted: true,
    };
  }

  private async markUnreplayable(claim: IdempotencyClaim, bytes: number): Promise<void> {
    await this.moveClaim(
      claim,
      'SET #status = :unreplayable, answer_bytes = :bytes REMOVE expected_by, settles_by, retry_at, in_progress_until',
      { ':unreplayable': 'unreplayable', ':bytes': bytes },
    );
  }

  /** One write from in_progress, by the attempt that holds the claim. */
  private async moveClaim(
    claim: IdempotencyClaim,
    updateExpression: string,
    values: Record<string, unknown>,
  ): Promise<void> {
    const fence = heldBy(claim);
    try {
      await this.options.client.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: { id: claim.recordId },
          UpdateExpression: updateExpression,
          ConditionExpression: fence.ConditionExpression,
          ExpressionAttributeNames: fence.ExpressionAttributeNames,
          ExpressionAttributeValues: { ...fence.ExpressionAttributeValues, ...values },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ClaimLostError(`attempt ${claim.attempt} no longer holds the idempotency claim`);
      }
      throw error;
    }
  }
}

/** One claim write, sent again while its outcome is unknown (it recognises its own first outcome). */
async function sendClaim<T>(write: () => Promise<T>): Promise<T> {
  for (let send = 1; ; send += 1) {
    try {
      return await write();
    } catch (error) {
      if (send >= CLAIM_SENDS || !outcomeUnknown(error)) throw error;
    }
  }
}

/** The condition that the claim is still in progress under this attempt. */
function heldBy(claim: IdempotencyClaim) {
  return {
    ConditionExpression: '#status = :heldStatus AND attempt = :heldAttempt',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ':heldStatus': 'in_progress', ':heldAttempt': claim.attempt } as Record<
      string,
      unknown
    >,
  };
}

async function storedAnswerOf(item: IdempotencyItem): Promise<StoredAnswer> {
  if (item.answer_body) {
    return {
      statusCode: item.answer_status ?? 200,
      body: (await decompress(item.answer_body)).toString('utf8'),
      requestId: item.answer_request_id ?? item.request_id ?? '',
    };
  }
  if (item.answer) return item.answer;
  throw new Error('completed idempotency record without an answer');
}
