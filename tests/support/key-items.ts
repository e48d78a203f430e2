/** A stored ApiKeys item for unit tests of the pure key views (metadata, usage): never used, no limits. */
import type { ApiKeyItem } from '../../shared/domain/keys/model.js';

export function apiKeyItem(overrides: Partial<ApiKeyItem> = {}): ApiKeyItem {
  return {
    key_hash: 'h'.repeat(64),
    hash_version: 1,
    key_id: 'key_abc',
    user_id: 'u1',
    project_id: 'p1',
    status: 'active',
    start: 'kg_test_AbCd',
    created_at: '2026-01-01T00:00:00.000Z',
    usage_count: 0,
    ...overrides,
  };
}
