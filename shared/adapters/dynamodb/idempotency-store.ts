/**
 * Idempotency-Key support as a conditional-write design on its own table (SPEC §3):
 * `begin` claims the key with one conditional Put; a completed record replays the stored
 * 200 answer; a record for another body, or one still in progress, is a 409.
 * Only 200 answers are stored (`complete`); any other outcome releases the claim.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { BeginOutcome, IdempotencyStore, StoredAnswer } from '../../domain/requests/ports.js';

export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

interface IdempotencyItem {
  id: string;
  body_hash: string;
  status: 'in_progress' | 'completed';
  /** Epoch seconds; DynamoDB TTL removes the record a while after it. */
  expires_at_epoch: number;
  /** Epoch ms after which an in-progress claim is considered abandoned. */
  in_progress_until?: number;
  answer?: StoredAnswer;
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

export interface IdempotencyStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** How long a claim blocks repeats before it counts as abandoned (brain timeout + margin). */
  inProgressMs: number;
  clock?: () => number;
}

export class DynamoIdempotencyStore implements IdempotencyStore {
  private readonly clock: () => number;

  constructor(private readonly options: IdempotencyStoreOptions) {
    this.clock = options.clock ?? Date.now;
  }

  async begin(userId: string, idempotencyKey: string, body: unknown): Promise<BeginOutcome> {
    const now = this.clock();
    // Scoped to the user; hashed so the caller's key text never becomes a table key.
    const recordId = sha256(`${userId}\u0000${idempotencyKey}`);
    const item: IdempotencyItem = {
      id: recordId,
      body_hash: sha256(canonicalJson(body)),
      status: 'in_progress',
      expires_at_epoch: Math.floor(now / 1000) + IDEMPOTENCY_TTL_SECONDS,
      in_progress_until: now + this.options.inProgressMs,
    };
    try {
      await this.options.client.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: item,
          // Free, expired (TTL deletion lags) or abandoned records can be claimed again.
          ConditionExpression:
            'attribute_not_exists(id) OR expires_at_epoch < :nowSeconds OR (#status = :inProgress AND in_progress_until < :nowMs)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':nowSeconds': Math.floor(now / 1000),
            ':nowMs': now,
            ':inProgress': 'in_progress',
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'claimed', recordId };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException) || !error.Item) throw error;
      const existing = unmarshall(error.Item) as IdempotencyItem;
      if (existing.body_hash !== item.body_hash) return { kind: 'conflict', reason: 'different_body' };
      if (existing.status === 'completed' && existing.answer)
        return { kind: 'replay', answer: existing.answer };
      return { kind: 'conflict', reason: 'in_progress' };
    }
  }

  async complete(recordId: string, answer: StoredAnswer): Promise<void> {
    await this.options.client.send(
      new UpdateCommand({
        TableName: this.options.tableName,
        Key: { id: recordId },
        UpdateExpression: 'SET #status = :completed, answer = :answer REMOVE in_progress_until',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':completed': 'completed', ':answer': answer },
      }),
    );
  }

  /** After a non-200 outcome the same key may be retried. */
  async release(recordId: string): Promise<void> {
    await this.options.client
      .send(
        new DeleteCommand({
          TableName: this.options.tableName,
          Key: { id: recordId },
          ConditionExpression: '#status = :inProgress',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':inProgress': 'in_progress' },
        }),
      )
      .catch((error: unknown) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      });
  }
}
