/**
 * The real DynamoDB key and user stores behind a switch that fails one chosen call: the
 * N-th call of a method throws a DynamoDB throttle either before it reaches the store (the
 * write never happened) or after the store answered (the write committed, its answer was
 * lost: a timeout). A call can also never return (the process died there) or wait for a
 * gate (to interleave two operations deterministically). Every call made while armed is
 * recorded, so a test can pin the exact sequence of store calls it enumerates faults over.
 */
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import type { KeyStore, UserStore } from '../../shared/domain/keys/ports.js';
import { createKeyService, type KeyService } from '../../shared/domain/keys/service.js';
import type { LogSink } from '../../shared/domain/ports.js';
import type { TestTables } from './dynamo.js';
import { keyStoreFor, type TestKeyStore } from './keystore.js';
import { silentLogger } from './logs.js';

type Method<T> = { [K in keyof T]: T[K] extends (...args: never[]) => Promise<unknown> ? K : never }[keyof T];
export type StoreCall = `keys.${Method<KeyStore>}` | `users.${Method<UserStore>}`;

/**
 * - `before`: throws instead of calling the store (nothing written);
 * - `after`: calls the store, then throws (the write committed, the answer was lost);
 * - `hang`: calls `reached`, then never returns and calls nothing (the process died at this call);
 * - `pause`: calls `reached`, waits for `until`, then calls the store.
 */
export type Fault =
  | { call: StoreCall; nth: number; when: 'before' | 'after' }
  | { call: StoreCall; nth: number; when: 'hang'; reached?: () => void }
  | { call: StoreCall; nth: number; when: 'pause'; until: Promise<unknown>; reached?: () => void };

/** The error an injected fault throws: what the SDK throws for a throttled request. */
export function injectedThrottle(call: StoreCall, nth: number, when: Fault['when']): Error {
  return new ProvisionedThroughputExceededException({
    message: `injected fault: ${call} #${nth} (${when})`,
    $metadata: { httpStatusCode: 400 },
  });
}

export class FaultInjector {
  private plan: Fault[] = [];
  private armed = false;
  private readonly counts = new Map<StoreCall, number>();
  /** Every store call made since `arm`, in order, with its occurrence number. */
  readonly calls: { call: StoreCall; nth: number }[] = [];
  /** The faults that fired since `arm`. */
  readonly fired: Fault[] = [];

  /** Start counting calls from zero and fail the ones `faults` name. */
  arm(...faults: Fault[]): void {
    this.plan = faults;
    this.counts.clear();
    this.calls.length = 0;
    this.fired.length = 0;
    this.armed = true;
  }

  /** Stop failing and recording (the stores behave as the real ones). */
  disarm(): void {
    this.armed = false;
    this.plan = [];
  }

  /** The recorded calls as `call#nth` labels. */
  trace(): string[] {
    return this.calls.map(({ call, nth }) => `${call}#${nth}`);
  }

  async run<T>(call: StoreCall, invoke: () => Promise<T>): Promise<T> {
    if (!this.armed) return invoke();
    const nth = (this.counts.get(call) ?? 0) + 1;
    this.counts.set(call, nth);
    this.calls.push({ call, nth });
    const fault = this.plan.find((candidate) => candidate.call === call && candidate.nth === nth);
    if (!fault) return invoke();
    this.fired.push(fault);
    switch (fault.when) {
      case 'before':
        throw injectedThrottle(call, nth, fault.when);
      case 'hang':
        fault.reached?.();
        return new Promise<T>(() => {});
      case 'pause':
        fault.reached?.();
        await fault.until;
        return invoke();
      case 'after':
        await invoke();
        throw injectedThrottle(call, nth, fault.when);
    }
  }
}

export function faultyKeyStore(real: KeyStore, faults: FaultInjector): KeyStore {
  const via = <T>(method: Method<KeyStore>, invoke: () => Promise<T>) => faults.run(`keys.${method}`, invoke);
  return {
    verifyAndCount: (keyHash, now, plan) =>
      via('verifyAndCount', () => real.verifyAndCount(keyHash, now, plan)),
    create: (item, budget, shards) => via('create', () => real.create(item, budget, shards)),
    findShards: (keyHash, shards) => via('findShards', () => real.findShards(keyHash, shards)),
    readShards: (keyHash, shards) => via('readShards', () => real.readShards(keyHash, shards)),
    readKey: (keyHash) => via('readKey', () => real.readKey(keyHash)),
    findByHash: (keyHash) => via('findByHash', () => real.findByHash(keyHash)),
    findByHashes: (keyHashes) => via('findByHashes', () => real.findByHashes(keyHashes)),
    findRef: (userId, keyId) => via('findRef', () => real.findRef(userId, keyId)),
    listRefs: (userId, limit, afterKeyId) => via('listRefs', () => real.listRefs(userId, limit, afterKeyId)),
    listByUser: (userId, limit, after) => via('listByUser', () => real.listByUser(userId, limit, after)),
    update: (keyHash, userId, change) => via('update', () => real.update(keyHash, userId, change)),
    revoke: (keyHash, now, reason) => via('revoke', () => real.revoke(keyHash, now, reason)),
    claimForRotation: (keyHash, claim, now) =>
      via('claimForRotation', () => real.claimForRotation(keyHash, claim, now)),
    releaseRotation: (keyHash, rotationId) =>
      via('releaseRotation', () => real.releaseRotation(keyHash, rotationId)),
    retire: (keyHash, now, retirement) => via('retire', () => real.retire(keyHash, now, retirement)),
    stampUserStatus: (keyHash, suspended, version) =>
      via('stampUserStatus', () => real.stampUserStatus(keyHash, suspended, version)),
  };
}

export function faultyUserStore(real: UserStore, faults: FaultInjector): UserStore {
  const via = <T>(method: Method<UserStore>, invoke: () => Promise<T>) =>
    faults.run(`users.${method}`, invoke);
  return {
    create: (item) => via('create', () => real.create(item)),
    find: (userId) => via('find', () => real.find(userId)),
    changeStatus: (userId, status, now) => via('changeStatus', () => real.changeStatus(userId, status, now)),
    recordStamping: (userId, version, progress) =>
      via('recordStamping', () => real.recordStamping(userId, version, progress)),
  };
}

export interface FaultyKeyStore extends TestKeyStore {
  /** The key service over the faulty stores (`keys` and `users` stay the real ones, to inspect). */
  service: KeyService;
  faults: FaultInjector;
}

/** As keyStoreFor, with the service running on stores that fail where `faults` says. */
export function faultyKeyStoreFor(
  tables: Pick<TestTables, 'doc' | 'names'>,
  options: { clock?: () => Date; logger?: LogSink; writeConcurrency?: number; stampPageSize?: number } = {},
): FaultyKeyStore {
  const { keys, users, budgets } = keyStoreFor(tables);
  const faults = new FaultInjector();
  const service = createKeyService({
    keys: faultyKeyStore(keys, faults),
    users: faultyUserStore(users, faults),
    budgets,
    environment: 'test',
    logger: options.logger ?? silentLogger,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.writeConcurrency ? { writeConcurrency: options.writeConcurrency } : {}),
    ...(options.stampPageSize ? { stampPageSize: options.stampPageSize } : {}),
  });
  return { service, keys, users, budgets, faults };
}
