/**
 * GET /v1/models (SPEC §3b, §4): OpenAI's model list of what a key may use. The brain's
 * catalogue (`{"action": "list_models"}`), read at most once per container every 5 minutes,
 * filtered by the key's provider and model scopes; ids written `provider/model`, as the chat
 * route takes them. A brain without a catalogue leaves the list to what the key's scopes name
 * exactly (a provider and a model without `*`).
 */
import type { BrainCatalogue } from '../brain/contract.js';
import type { KeyGrant } from '../keys/scopes.js';
import { modelAllowed } from '../keys/scopes.js';
import type { LogSink } from '../ports.js';
import * as z from '../zod.js';
import type { ReadCatalogue } from './ports.js';

/** OpenAI's path, under the base URL `https://<host>/v1`; the route table names it. */
export { MODELS_PATH } from './paths.js';

/** How long a container keeps the brain's catalogue (SPEC §4). */
export const CATALOGUE_TTL_MS = 5 * 60_000;
/** How long a failed read of the catalogue is not repeated: a brain down is not asked on every call. */
export const CATALOGUE_RETRY_MS = 30_000;

export type CatalogueModel = BrainCatalogue['models'][number];

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export interface ModelList {
  object: 'list';
  data: ModelObject[];
}

/** The 200 answer of GET /v1/models (OpenAPI is generated from it). */
export const modelListSchema = z.lazy(() =>
  z.object({
    object: z.literal('list'),
    data: z.array(
      z.object({
        id: z.string(),
        object: z.literal('model'),
        created: z.number().check(z.int()),
        owned_by: z.string(),
      }),
    ),
  }),
);

/** The same answer in Anthropic's shape (`anthropic-version` sent): OpenAPI is generated from it. */
export const anthropicModelListSchema = z.lazy(() =>
  z.object({
    data: z.array(
      z.object({
        type: z.literal('model'),
        id: z.string(),
        display_name: z.string(),
        created_at: z.string(),
      }),
    ),
    has_more: z.literal(false),
    first_id: z.nullable(z.string()),
    last_id: z.nullable(z.string()),
  }),
);

export interface ModelListDeps {
  readCatalogue: ReadCatalogue;
  logger: Pick<LogSink, 'error'>;
  clock?: () => number;
}

interface CachedCatalogue {
  models: readonly CatalogueModel[] | undefined;
  /** When it was read (epoch seconds): the models' `created`. */
  readAtSeconds: number;
  until: number;
}

/** The models a key may use, from the catalogue (or, without one, from its exact scopes). */
export function modelsForKey(
  grant: Pick<KeyGrant, 'scopes'>,
  catalogue: readonly CatalogueModel[] | undefined,
): CatalogueModel[] {
  const { providers, models } = grant.scopes ?? {};
  const candidates =
    catalogue ??
    (providers ?? []).flatMap((provider) =>
      (models ?? []).filter((model) => !model.endsWith('*')).map((model) => ({ provider, model })),
    );
  const seen = new Set<string>();
  return candidates
    .filter(
      ({ provider, model }) =>
        (!providers || providers.includes(provider)) && (!models || modelAllowed(model, models)),
    )
    .filter(({ provider, model }) => {
      const id = `${provider}/${model}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    })
    .sort((a, b) => `${a.provider}/${a.model}`.localeCompare(`${b.provider}/${b.model}`));
}

export function createModelList(deps: ModelListDeps) {
  const clock = deps.clock ?? Date.now;
  let cached: CachedCatalogue | undefined;
  /** One read at a time: concurrent calls of a container share it. */
  let reading: Promise<CachedCatalogue> | undefined;

  async function read(): Promise<CachedCatalogue> {
    const now = clock();
    try {
      const models = await deps.readCatalogue();
      return { models, readAtSeconds: Math.floor(now / 1000), until: now + CATALOGUE_TTL_MS };
    } catch (error) {
      deps.logger.error('brain catalogue not read; listing the key scopes only', {
        error_name: error instanceof Error ? error.name : 'unknown',
        error_message: error instanceof Error ? error.message.slice(0, 300) : String(error),
      });
      return { models: undefined, readAtSeconds: Math.floor(now / 1000), until: now + CATALOGUE_RETRY_MS };
    }
  }

  async function catalogue(): Promise<CachedCatalogue> {
    if (cached && clock() < cached.until) return cached;
    reading ??= read().finally(() => {
      reading = undefined;
    });
    cached = await reading;
    return cached;
  }

  return {
    async list(grant: Pick<KeyGrant, 'scopes'>): Promise<ModelList> {
      const { models, readAtSeconds } = await catalogue();
      return {
        object: 'list',
        data: modelsForKey(grant, models).map(({ provider, model }) => ({
          id: `${provider}/${model}`,
          object: 'model',
          created: readAtSeconds,
          owned_by: provider,
        })),
      };
    },
  };
}

export type ModelListService = ReturnType<typeof createModelList>;

/** Anthropic's model list (`GET /v1/models` as its SDKs read it: `client.models.list()`). */
export interface AnthropicModelList {
  data: Array<{ type: 'model'; id: string; display_name: string; created_at: string }>;
  has_more: false;
  first_id: string | null;
  last_id: string | null;
}

/**
 * The same list in Anthropic's shape, for a caller that sends `anthropic-version` (its SDKs
 * always do). Ids are what /v1/messages takes: a bare name for provider anthropic (as
 * Anthropic writes them), `provider/model` for every other provider. One page: the list is
 * the key's, small, and never paged.
 */
export function anthropicModelListOf(list: ModelList): AnthropicModelList {
  const data = list.data.map((model) => {
    const id = model.id.startsWith('anthropic/') ? model.id.slice('anthropic/'.length) : model.id;
    return {
      type: 'model' as const,
      id,
      display_name: id,
      created_at: new Date(model.created * 1000).toISOString(),
    };
  });
  return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}
