/**
 * The reference brain: a deterministic, honest stand-in for the agentic brain (SPEC §4).
 * Price table + allow-list, token estimate from the text, a per-request cost ceiling,
 * simulated payments — and test models that exercise every error path of a client.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type BrainAnswer,
  type BrainCatalogue,
  type BrainRequest,
  brainRequestSchema,
  listModelsRequestSchema,
} from '../../shared/domain/brain/contract.js';
import { estimateInputTokens as estimateTokensOfChatForm } from '../../shared/domain/brain/token-estimate.js';
import { chatFormOf } from '../../shared/domain/requests/anthropic-chat-form.js';
import type { ToolCall } from '../../shared/domain/requests/openai-chat-schema.js';
import { issuesToDetails } from '../../shared/domain/validation.js';
import { TOOLS_TEST_MODEL, toolCallsFor, toolResultsAnswer } from './tools.js';

export interface ModelPrice {
  /** USD per 1,000 input tokens. */
  input: number;
  /** USD per 1,000 output tokens. */
  output: number;
}

/** The allow-list: a provider/model pair not in this table is rejected. */
export const PRICE_TABLE: Record<string, Record<string, ModelPrice>> = {
  openai: {
    'gpt-4o': { input: 0.0025, output: 0.01 },
    'gpt-4o-mini': { input: 0.00015, output: 0.0006 },
    'gpt-4.1': { input: 0.002, output: 0.008 },
    'gpt-4.1-mini': { input: 0.0004, output: 0.0016 },
    'o3-mini': { input: 0.0011, output: 0.0044 },
    'text-embedding-3-small': { input: 0.00002, output: 0 },
  },
  anthropic: {
    'claude-opus-4': { input: 0.015, output: 0.075 },
    'claude-sonnet-4': { input: 0.003, output: 0.015 },
    'claude-haiku-4': { input: 0.0008, output: 0.004 },
  },
  ollama: {
    'llama3.1': { input: 0, output: 0 },
    mistral: { input: 0, output: 0 },
    qwen2: { input: 0, output: 0 },
  },
  reference: {
    reference: { input: 0.001, output: 0.002 },
  },
};

/** Provider `reference` test models, like a payment provider's test cards. */
export const TEST_MODELS = [
  'test-reject',
  'test-error',
  'test-malformed',
  'test-timeout',
  'test-throttle',
  'test-large',
  'test-incompressible',
  'test-overspend',
  'test-foreign-currency',
  TOOLS_TEST_MODEL,
  'test-stream-error',
] as const;

/** Streamed, `test-stream-error` fails after its first delta (./events.ts); answered plainly, it approves. */
export const STREAM_ERROR_TEST_MODEL = 'test-stream-error';

/** Test models that approve and pay as provider/model `reference/reference` does. */
const PRICED_AS_REFERENCE = new Set([
  'test-overspend',
  'test-foreign-currency',
  TOOLS_TEST_MODEL,
  STREAM_ERROR_TEST_MODEL,
]);

/**
 * Misbehaving payments, so the budget's overspend and currency alarms can be exercised: `test-overspend`
 * pays twice its spend limit (a brain that breaks the contract), `test-foreign-currency` pays in EUR.
 */
const OVERSPEND_FACTOR = 2;

/** `test-large` / `test-incompressible` answer `max_tokens` characters of content, this many by default. */
export const DEFAULT_LARGE_ANSWER_CHARS = 2_000_000;

/** Text that compresses well: a long generation, e.g. a 2 MB answer that is stored and replayed. */
function repetitiveText(length: number): string {
  const line = 'The reference brain writes a long answer so clients can test large responses. ';
  return line.repeat(Math.ceil(length / line.length)).slice(0, length);
}

/** Text that hardly compresses (base64url of a SHA-256 stream), the same for the same request id. */
function incompressibleText(requestId: string, length: number): string {
  const blocks: string[] = [];
  for (let index = 0, written = 0; written < length; index += 1) {
    const block = createHash('sha256').update(`${requestId}:${index}`).digest('base64url');
    blocks.push(block);
    written += block.length;
  }
  return blocks.join('').slice(0, length);
}

export const DEFAULT_MAX_COST_USD = 0.5;
export const DEFAULT_OUTPUT_TOKENS = 256;

export interface ReferenceBrainOptions {
  maxCostUsd?: number;
  /** How long `test-timeout` stalls; the caller's timeout must be shorter. */
  stallMs?: number;
}

/** Thrown for `test-throttle`; Lambda reports it as the function error type. */
export class TooManyRequestsException extends Error {
  override readonly name = 'TooManyRequestsException';
}

/** Own entries only: `constructor`, `__proto__` or `toString` are not models on the allow-list. */
function priceOf(provider: string, model: string): ModelPrice | undefined {
  const models = Object.hasOwn(PRICE_TABLE, provider) ? PRICE_TABLE[provider] : undefined;
  return models && Object.hasOwn(models, model) ? models[model] : undefined;
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const round = (value: number) => Math.round(value * 1e6) / 1e6;

/**
 * The estimate of shared/domain/brain/token-estimate.ts, on the chat form of the request (an
 * Anthropic request's converted): the same count whichever route the request came by.
 */
export function estimateInputTokens(request: BrainRequest): number {
  return estimateTokensOfChatForm(chatFormOf(request.request_params));
}

function decision(
  request: BrainRequest,
  outcome: 'approved' | 'rejected',
  reasoning: string,
  confidence: number,
  checked: string[],
  violations: string[],
) {
  return {
    decision_id: `dec_${digest(`decision:${request.request_id}`).slice(0, 24)}`,
    outcome,
    reasoning,
    confidence,
    risk_score: outcome === 'approved' ? 0.05 : 0.8,
    policies_checked: checked,
    policy_violations: violations,
  };
}

function reject(request: BrainRequest, reasoning: string, checked: string[], violation: string): BrainAnswer {
  return {
    success: false,
    decision: decision(request, 'rejected', reasoning, 0.99, checked, [violation]),
    response: null,
    payment: null,
    message: `Rejected: ${reasoning}`,
  };
}

/** What the approved request is answered with: text, or (SPEC §4 v3) a call of one of its tools. */
type Generated = { content: string } | { content: null; tool_calls: ToolCall[]; finish_reason: 'tool_calls' };

function generate(request: BrainRequest, inputTokens: number): Generated {
  const length = chatFormOf(request.request_params).max_tokens ?? DEFAULT_LARGE_ANSWER_CHARS;
  if (request.api_provider === 'reference' && request.model_name === 'test-large') {
    return { content: repetitiveText(length) };
  }
  if (request.api_provider === 'reference' && request.model_name === 'test-incompressible') {
    return { content: incompressibleText(request.request_id, length) };
  }
  // The caller ran the tools: answer from their output, rather than call them again.
  const results = toolResultsAnswer(request);
  if (results !== undefined) return { content: results };
  const toolCalls = toolCallsFor(request);
  if (toolCalls) return { content: null, tool_calls: toolCalls, finish_reason: 'tool_calls' };
  return {
    content: `Reference brain answer for ${request.model_name}: request approved (about ${inputTokens} input tokens).`,
  };
}

/** The catalogue (SPEC §4 v3): every provider/model on the allow-list. */
export function referenceCatalogue(): BrainCatalogue {
  return {
    models: Object.entries(PRICE_TABLE).flatMap(([provider, models]) =>
      Object.keys(models).map((model) => ({ provider, model })),
    ),
  };
}

export async function referenceBrain(event: unknown, options: ReferenceBrainOptions = {}): Promise<unknown> {
  if (listModelsRequestSchema.safeParse(event).success) return referenceCatalogue();
  const parsed = brainRequestSchema.safeParse(event);
  if (!parsed.success) {
    return {
      success: false,
      error: { code: 'invalid_request', details: issuesToDetails(parsed.error.issues).slice(0, 20) },
      message: 'The brain request does not match the contract.',
    };
  }
  const request = parsed.data;
  const checked = ['allow_list', 'cost_ceiling'];

  if (request.api_provider === 'reference') {
    switch (request.model_name) {
      case 'test-reject':
        return reject(request, 'test model test-reject always rejects', checked, 'test_reject');
      case 'test-error':
        return {
          success: false,
          error: { code: 'provider_error', detail: 'simulated provider failure' },
          message: 'Simulated brain failure (test-error).',
        };
      case 'test-malformed':
        return { success: 'maybe', verdict: 'outside the contract (test-malformed)' };
      case 'test-timeout':
        await sleep(options.stallMs ?? 30_000, undefined, { ref: false });
        return reject(request, 'test-timeout answered after its caller gave up', checked, 'test_timeout');
      case 'test-throttle':
        throw new TooManyRequestsException('Simulated throttling (test-throttle).');
    }
  }

  const largeAnswer =
    request.api_provider === 'reference' &&
    (request.model_name === 'test-large' || request.model_name === 'test-incompressible');
  const pricedAsReference =
    request.api_provider === 'reference' && PRICED_AS_REFERENCE.has(request.model_name);
  const price = largeAnswer
    ? { input: 0, output: 0 }
    : pricedAsReference
      ? PRICE_TABLE.reference?.reference
      : priceOf(request.api_provider, request.model_name);
  if (!price) {
    return reject(
      request,
      `${request.api_provider}/${request.model_name} is not on the allow-list`,
      checked,
      'allow_list',
    );
  }
  const inputTokens = estimateInputTokens(request);
  const outputTokens = request.request_params.max_tokens ?? DEFAULT_OUTPUT_TOKENS;
  const estimated = round((inputTokens * price.input + outputTokens * price.output) / 1000);
  const maxCost = options.maxCostUsd ?? DEFAULT_MAX_COST_USD;
  if (estimated > maxCost) {
    return reject(
      request,
      `estimated cost ${estimated} USD exceeds the ${maxCost} USD per-request ceiling`,
      checked,
      'cost_ceiling',
    );
  }
  // The key's budget hold (SPEC §5b): never pay more than the caller may spend on this call.
  const spendLimit = request.spend_limit?.amount;
  if (spendLimit !== undefined) {
    checked.push('spend_limit');
    if (estimated > spendLimit) {
      return reject(
        request,
        `estimated cost ${estimated} USD exceeds the key's spend limit of ${spendLimit} USD for this call`,
        checked,
        'spend_limit',
      );
    }
  }

  // Deterministic "actual" usage: the answer uses about half the allowed output tokens.
  const usedOutputTokens = Math.max(1, Math.ceil(outputTokens / 2));
  const fair = Math.min(
    round((inputTokens * price.input + usedOutputTokens * price.output) / 1000),
    spendLimit ?? Number.POSITIVE_INFINITY,
  );
  const overspends = request.api_provider === 'reference' && request.model_name === 'test-overspend';
  const actual = overspends ? round((spendLimit ?? estimated) * OVERSPEND_FACTOR + 0.000001) : fair;
  const currency =
    request.api_provider === 'reference' && request.model_name === 'test-foreign-currency' ? 'EUR' : 'USD';
  const variance = round(actual - estimated);
  const transaction = digest(`payment:${request.request_id}`);
  return {
    success: true,
    decision: decision(
      request,
      'approved',
      `allowed model, estimated cost ${estimated} USD within the ${maxCost} USD ceiling`,
      0.95,
      checked,
      [],
    ),
    response: {
      provider: request.api_provider,
      model: request.model_name,
      operation_type: request.operation_type,
      ...generate(request, inputTokens),
      usage: { input_tokens: inputTokens, output_tokens: usedOutputTokens },
    },
    payment: {
      payment_id: `pay_${transaction.slice(0, 24)}`,
      transaction_hash: `0x${transaction}`,
      estimated_amount: estimated,
      actual_amount: actual,
      variance_amount: variance,
      variance_percent: estimated === 0 ? 0 : round((variance / estimated) * 100),
      currency,
      status: 'settled',
      simulated: true,
    },
    message: 'Approved by the reference brain (simulated payment).',
  };
}
