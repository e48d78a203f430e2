/** An in-memory IdempotencyStore for the request processor's unit tests. */
import type {
  BeginOutcome,
  IdempotencyClaim,
  IdempotencyStore,
  StoredAnswer,
} from '../../shared/domain/requests/ports.js';

/** Claims, replays and conflicts by user, key and body, as the DynamoDB store does; records every call. */
export class FakeIdempotencyStore implements IdempotencyStore {
  readonly calls: string[] = [];
  private readonly records = new Map<string, { body: string; answer?: StoredAnswer }>();

  async begin(
    userId: string,
    idempotencyKey: string,
    body: unknown,
    requestId: string,
  ): Promise<BeginOutcome> {
    this.calls.push(`begin ${idempotencyKey}`);
    const recordId = `${userId}\u0000${idempotencyKey}`;
    const existing = this.records.get(recordId);
    if (!existing) {
      this.records.set(recordId, { body: JSON.stringify(body) });
      return { kind: 'claimed', claim: { recordId, attempt: 1, requestId, doubted: false } };
    }
    if (existing.body !== JSON.stringify(body)) return { kind: 'different_body' };
    return existing.answer
      ? { kind: 'replay', answer: existing.answer }
      : { kind: 'busy', state: 'in_progress', retryAt: Date.now() + 1000, requestId };
  }

  async complete(claim: IdempotencyClaim, answer: StoredAnswer): Promise<'stored'> {
    this.calls.push('complete');
    const record = this.records.get(claim.recordId);
    if (record) record.answer = answer;
    return 'stored';
  }

  async markInDoubt(): Promise<void> {
    this.calls.push('in doubt');
  }

  async release(claim: IdempotencyClaim): Promise<void> {
    this.calls.push('release');
    this.records.delete(claim.recordId);
  }
}
