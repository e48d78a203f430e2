import { describe, expect, it } from 'vitest';
import {
  anthropicModelListOf,
  anthropicModelListSchema,
  CATALOGUE_RETRY_MS,
  CATALOGUE_TTL_MS,
  type CatalogueModel,
  createModelList,
  modelsForKey,
} from '../../../../shared/domain/requests/models.js';
import { silentLogger } from '../../../support/logs.js';

const CATALOGUE: CatalogueModel[] = [
  { provider: 'openai', model: 'gpt-4o-mini' },
  { provider: 'openai', model: 'gpt-4o' },
  { provider: 'anthropic', model: 'claude-sonnet-4' },
  { provider: 'reference', model: 'test-tools' },
  { provider: 'openai', model: 'gpt-4o' },
];
const ids = (models: CatalogueModel[]) => models.map(({ provider, model }) => `${provider}/${model}`);

describe('modelsForKey', () => {
  it('lists the whole catalogue for a key without scopes, sorted, each id once', () => {
    expect(ids(modelsForKey({}, CATALOGUE))).toEqual([
      'anthropic/claude-sonnet-4',
      'openai/gpt-4o',
      'openai/gpt-4o-mini',
      'reference/test-tools',
    ]);
  });

  it('keeps only the providers and models (trailing * a prefix) the key may use', () => {
    expect(ids(modelsForKey({ scopes: { providers: ['openai'] } }, CATALOGUE))).toEqual([
      'openai/gpt-4o',
      'openai/gpt-4o-mini',
    ]);
    expect(ids(modelsForKey({ scopes: { models: ['gpt-4o-*', 'claude-sonnet-4'] } }, CATALOGUE))).toEqual([
      'anthropic/claude-sonnet-4',
      'openai/gpt-4o-mini',
    ]);
    expect(modelsForKey({ scopes: { providers: ['mistral'] } }, CATALOGUE)).toEqual([]);
  });

  it('without a catalogue lists what the scopes name exactly: each named provider with each exact model', () => {
    expect(
      ids(
        modelsForKey({ scopes: { providers: ['openai', 'azure'], models: ['gpt-4o', 'gpt-5*'] } }, undefined),
      ),
    ).toEqual(['azure/gpt-4o', 'openai/gpt-4o']);
    expect(modelsForKey({ scopes: { models: ['gpt-4o'] } }, undefined)).toEqual([]);
    expect(modelsForKey({}, undefined)).toEqual([]);
  });
});

describe('createModelList', () => {
  function listWith(read: () => Promise<CatalogueModel[] | undefined>) {
    let now = 1_800_000_000_000;
    let reads = 0;
    const list = createModelList({
      readCatalogue: () => {
        reads += 1;
        return read();
      },
      logger: silentLogger,
      clock: () => now,
    });
    return { list, reads: () => reads, advance: (ms: number) => (now += ms) };
  }

  it("answers OpenAI's list, created = when the catalogue was read, owned_by = the provider", async () => {
    const { list } = listWith(async () => CATALOGUE.slice(0, 1));
    expect(await list.list({})).toEqual({
      object: 'list',
      data: [{ id: 'openai/gpt-4o-mini', object: 'model', created: 1_800_000_000, owned_by: 'openai' }],
    });
  });

  it('reads the catalogue once per container for 5 minutes, concurrent calls sharing one read', async () => {
    const subject = listWith(async () => CATALOGUE);
    await Promise.all(Array.from({ length: 10 }, () => subject.list.list({})));
    expect(subject.reads()).toBe(1);
    subject.advance(CATALOGUE_TTL_MS - 1);
    await subject.list.list({ scopes: { providers: ['openai'] } });
    expect(subject.reads()).toBe(1);
    subject.advance(1);
    await subject.list.list({});
    expect(subject.reads()).toBe(2);
  });

  it('a brain that cannot be read: the exact scopes for now, asked again after 30 s (not 5 min)', async () => {
    let fail = true;
    const subject = listWith(async () => {
      if (fail) throw new Error('brain down');
      return CATALOGUE;
    });
    const scopes = { providers: ['openai'], models: ['gpt-4o'] };
    expect((await subject.list.list({ scopes })).data.map((model) => model.id)).toEqual(['openai/gpt-4o']);
    expect((await subject.list.list({})).data).toEqual([]);
    expect(subject.reads()).toBe(1);
    fail = false;
    subject.advance(CATALOGUE_RETRY_MS);
    expect((await subject.list.list({})).data).toHaveLength(4);
    expect(subject.reads()).toBe(2);
  });
});

describe('anthropicModelListOf', () => {
  it("writes the key's list as Anthropic's: bare ids for provider anthropic, one page", () => {
    const list = anthropicModelListOf({
      object: 'list',
      data: [
        { id: 'anthropic/claude-sonnet-4', object: 'model', created: 1_796_000_000, owned_by: 'anthropic' },
        { id: 'openai/gpt-4o-mini', object: 'model', created: 1_796_000_000, owned_by: 'openai' },
      ],
    });
    expect(list).toEqual({
      data: [
        {
          type: 'model',
          id: 'claude-sonnet-4',
          display_name: 'claude-sonnet-4',
          created_at: '2026-11-30T00:53:20.000Z',
        },
        {
          type: 'model',
          id: 'openai/gpt-4o-mini',
          display_name: 'openai/gpt-4o-mini',
          created_at: '2026-11-30T00:53:20.000Z',
        },
      ],
      has_more: false,
      first_id: 'claude-sonnet-4',
      last_id: 'openai/gpt-4o-mini',
    });
    // The answer is what OpenAPI documents.
    expect(anthropicModelListSchema.safeParse(list).success).toBe(true);
  });

  it('an empty list has no first or last id', () => {
    expect(anthropicModelListOf({ object: 'list', data: [] })).toEqual({
      data: [],
      has_more: false,
      first_id: null,
      last_id: null,
    });
  });
});
