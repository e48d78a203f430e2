/**
 * Transaction conflicts: DynamoDB cancels a transaction (or refuses a single write) that
 * touches an item another transaction is writing at that instant. The SDK does not retry
 * them, and they are not the caller's fault, so the key and user stores retry a few times
 * with jitter and then report a StoreConflictError (the domain answers `ok:false`).
 */
import { TransactionCanceledException, TransactionConflictException } from '@aws-sdk/client-dynamodb';
import { StoreConflictError } from '../../domain/keys/ports.js';

const ATTEMPTS = 4;
const BASE_DELAY_MS = 20;

/** Only a conflict: a cancellation with a failed condition is a real answer, not a retry. */
export function isTransactionConflict(error: unknown): boolean {
  if (error instanceof TransactionConflictException) return true;
  if (!(error instanceof TransactionCanceledException)) return false;
  const codes = (error.CancellationReasons ?? []).map((reason) => reason.Code);
  return codes.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed');
}

export async function retryOnConflict<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await write();
    } catch (error) {
      if (!isTransactionConflict(error)) throw error;
      if (attempt >= ATTEMPTS) {
        throw new StoreConflictError('concurrent writes kept conflicting', { cause: error });
      }
      const delay = BASE_DELAY_MS * 2 ** (attempt - 1);
      await new Promise((resolve) => setTimeout(resolve, delay / 2 + Math.random() * delay));
    }
  }
}
