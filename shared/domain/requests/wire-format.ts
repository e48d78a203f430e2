/**
 * A wire format: what one route adds to the one pipeline (./process.ts) — its body schema and
 * translation into the fields of a brain request, its answer's shape and its stream encoder.
 * Auth, limits, scopes, budget, idempotency and the brain are the pipeline's, the same for
 * every route (SPEC §3, §3b, §3d, §3e); a format never sees them.
 */
import { DEFAULT_MESSAGES, type ErrorCode, type ErrorDetail } from '../../errors.js';
import type { ApiSuccess } from '../brain/contract.js';
import type { DeltaEvent } from '../brain/stream.js';
import type { RequestFields } from './schema.js';

/** Request headers by lower-cased name (the formats read their optional ones: project, agent, versions). */
export type WireHeaders = Readonly<Record<string, string | undefined>>;

/** A valid body: the fields of one brain request, and what the answer needs to know of the call. */
export interface ParsedCall {
  request: RequestFields;
  /** The model as the caller wrote it: answers echo it. */
  model: string;
  /** The caller asked for server-sent events. */
  stream: boolean;
  /** OpenAI's `stream_options.include_usage`: a last chunk with the usage. */
  includeUsage?: boolean;
}

export type ParseOutcome =
  | { ok: true; call: ParsedCall }
  /** `message`: the 400's message, where the format's SDKs show only that (it names the first problem). */
  | { ok: false; details: ErrorDetail[]; message?: string };

/** The events of one streamed answer, as the format writes them (each a whole SSE event or several). */
export interface StreamEncoder {
  /** The first event(s), once the brain has approved: sent before its answer exists. */
  opening(): string;
  /** One brain delta; undefined when it carries nothing this format shows. */
  delta(delta: DeltaEvent): string | undefined;
  /** The end, once the call is settled: `answer.response` is the whole response (assembled from the deltas). */
  closing(answer: ApiSuccess): string;
  /** A failure after the stream started; the stream ends after it. */
  error(code: ErrorCode, message: string): string;
  /** A finished call's answer (a replay, or a stored one) as the whole stream, the same events as live. */
  replay(answer: ApiSuccess): string;
}

export interface WireFormat {
  /** Validates a body (and the route's headers): the fields of one brain request, or every problem. */
  parse(body: unknown, headers: WireHeaders): ParseOutcome;
  /** A scope refusal's field (`provider`, `model`, `project_id`, `agent_id`) as the caller wrote it. */
  pathOf(path: string): string;
  /**
   * The answer's body: an approved decision in this format; any other decision throws
   * HttpError('forbidden') with the brain's message (the route's own answer to it).
   */
  present(answer: ApiSuccess, call: ParsedCall, created: number): unknown;
  /** The stream of one call whose brain approved it; absent: this format does not stream. */
  encoder?(call: ParsedCall, requestId: string, created: number): StreamEncoder;
}

/** The answer's own text and tool calls as one brain delta, for a replay to stream what a live call did. */
export function deltaOfMessage(message: {
  content: string | null;
  tool_calls?: ReadonlyArray<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
}): DeltaEvent {
  return {
    type: 'delta',
    ...(message.content ? { content: message.content } : {}),
    ...(message.tool_calls && message.tool_calls.length > 0
      ? { tool_calls: message.tool_calls.map((call, index) => ({ index, ...call })) }
      : {}),
  };
}

/**
 * SDKs show an error's message, not its details: on their routes the 400's message itself
 * names the first problem (e.g. an unknown field).
 */
export function firstProblemMessage(details: readonly ErrorDetail[]): string {
  const [first] = details;
  if (!first) return DEFAULT_MESSAGES.invalid_request;
  const more = details.length > 1 ? ` (and ${details.length - 1} more; see details)` : '';
  return `Invalid request: ${first.path ? `${first.path}: ` : ''}${first.message}${more}`;
}

/**
 * keygate's own headers, which every wire format takes (SPEC §3b): `Keygate-Project-Id` and
 * `Keygate-Agent-Id`, each 1–128 characters (JavaScript length, as SPEC §3 counts) when sent.
 */
export function keygateHeaderDetails(
  projectId: string | undefined,
  agentId: string | undefined,
): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const [name, value] of [
    ['Keygate-Project-Id', projectId],
    ['Keygate-Agent-Id', agentId],
  ] as const) {
    if (value !== undefined && (value.length < 1 || value.length > 128)) {
      details.push({ path: name, message: 'must be 1-128 characters' });
    }
  }
  return details;
}

/**
 * The fields a wire format knows but refuses, each named with why (only `null`, "absent",
 * passes) — reported before the schema's own issues, which then skip these fields.
 */
export function refusedFieldDetails<F extends string>(
  body: unknown,
  fields: readonly F[],
  why: (field: F) => string,
): ErrorDetail[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return [];
  const record = body as Record<string, unknown>;
  return fields
    .filter((field) => Object.hasOwn(record, field) && record[field] !== null)
    .map((field) => ({ path: field, message: `"${field}" ${why(field)}` }));
}
