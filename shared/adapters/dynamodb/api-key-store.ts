/**
 * The key domain's KeyStore on DynamoDB, composed from one module per job: creation
 * (key-creation.ts), reads (key-reads.ts), settings changes (key-changes.ts), the verify
 * write (key-verification-store.ts), revocation (key-revocation.ts) and the other lifecycle
 * writes (key-lifecycle.ts). Each translates condition failures into domain outcomes.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { BudgetItem } from '../../domain/budgets/model.js';
import type { ApiKeyItem } from '../../domain/keys/model.js';
import type {
  KeyChange,
  KeyChangeWrite,
  KeyPage,
  KeyRef,
  KeyRefPage,
  KeyStore,
  LimitPlan,
  RotationClaim,
  VerifyWrite,
} from '../../domain/keys/ports.js';
import { updateKey } from './key-changes.js';
import { createKey } from './key-creation.js';
import { claimKeyForRotation, releaseKeyRotation, retireKey, stampKeyUserStatus } from './key-lifecycle.js';
import { findKeyByHash, findKeyRef, findKeysByHashes, listKeyRefs, listKeysByUser } from './key-reads.js';
import { revokeKeyItem } from './key-revocation.js';
import { findShardItems } from './key-shards.js';
import type { DynamoKeyStoreOptions } from './key-tables.js';
import { readKeyWith, readShardsWith, verifyAndCountWith } from './key-verification-store.js';

export type { DynamoKeyStoreOptions } from './key-tables.js';

/** ApiKeys table adapter (with UserKeys, and Budgets for a budgeted key's creation). */
export class DynamoKeyStore implements KeyStore {
  private readonly tables: DynamoKeyStoreOptions;
  private readonly client: DynamoDBDocumentClient;
  readonly tableName: string;

  constructor(options: DynamoKeyStoreOptions) {
    this.tables = { ...options };
    this.client = options.client;
    this.tableName = options.tableName;
  }

  create(item: ApiKeyItem, budget?: BudgetItem, shards?: readonly ApiKeyItem[]): Promise<void> {
    return createKey(this.tables, item, budget, shards);
  }

  findShards(keyHash: string, shards: number): Promise<ApiKeyItem[]> {
    return findShardItems(this.client, this.tableName, keyHash, shards);
  }

  findByHash(keyHash: string): Promise<ApiKeyItem | undefined> {
    return findKeyByHash(this.client, this.tableName, keyHash);
  }

  findByHashes(keyHashes: readonly string[]): Promise<ApiKeyItem[]> {
    return findKeysByHashes(this.client, this.tableName, keyHashes);
  }

  findRef(userId: string, keyId: string): Promise<KeyRef | undefined> {
    return findKeyRef(this.tables, userId, keyId);
  }

  listRefs(userId: string, limit: number, afterKeyId?: string): Promise<KeyRefPage> {
    return listKeyRefs(this.tables, userId, limit, afterKeyId);
  }

  listByUser(userId: string, limit: number, after?: KeyRef): Promise<KeyPage> {
    return listKeysByUser(this.client, this.tableName, userId, limit, after);
  }

  verifyAndCount(keyHash: string, now: Date, plan: LimitPlan, signal?: AbortSignal): Promise<VerifyWrite> {
    return verifyAndCountWith(this.client, this.tableName, keyHash, now, plan, signal);
  }

  readShards(keyHash: string, shards: number, signal?: AbortSignal): Promise<ApiKeyItem[]> {
    return readShardsWith(this.client, this.tableName, keyHash, shards, signal);
  }

  readKey(keyHash: string, signal?: AbortSignal): Promise<ApiKeyItem | undefined> {
    return readKeyWith(this.client, this.tableName, keyHash, signal);
  }

  update(keyHash: string, userId: string, change: KeyChange): Promise<KeyChangeWrite> {
    return updateKey(this.client, this.tableName, keyHash, userId, change);
  }

  revoke(keyHash: string, now: Date, reason: string): Promise<ApiKeyItem> {
    return revokeKeyItem(this.client, this.tableName, keyHash, now, reason);
  }

  claimForRotation(keyHash: string, claim: RotationClaim, now: Date): Promise<ApiKeyItem> {
    return claimKeyForRotation(this.client, this.tableName, keyHash, claim, now);
  }

  releaseRotation(keyHash: string, rotationId: string): Promise<void> {
    return releaseKeyRotation(this.client, this.tableName, keyHash, rotationId);
  }

  retire(
    keyHash: string,
    now: Date,
    retirement: { expiresAt?: Date; replacedBy: string; rotationId?: string },
  ): Promise<ApiKeyItem> {
    return retireKey(this.client, this.tableName, keyHash, now, retirement);
  }

  stampUserStatus(keyHash: string, suspended: boolean, version: number): Promise<boolean> {
    return stampKeyUserStatus(this.client, this.tableName, keyHash, suspended, version);
  }
}
