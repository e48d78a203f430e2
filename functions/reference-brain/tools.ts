/**
 * The reference brain's tool calls (SPEC §4 v3), deterministic like the rest of it: which
 * function it calls, with arguments valid for that function's JSON Schema (the minimal value
 * the schema allows), and the answer that quotes a tool's output once the caller has run it.
 */
import { createHash } from 'node:crypto';
import type { BrainRequest } from '../../shared/domain/brain/contract.js';
import { chatFormOf } from '../../shared/domain/requests/anthropic-chat-form.js';
import type { ToolCall } from '../../shared/domain/requests/openai-chat-schema.js';

/** Provider `reference` model that calls a tool whenever the request offers one. */
export const TOOLS_TEST_MODEL = 'test-tools';

/** Deeper than any schema a caller means: a `$ref` cycle stops here. */
const MAX_SCHEMA_DEPTH = 24;
/** The text a generated string starts from, fitted to the schema's length bounds. */
const SAMPLE_TEXT = 'reference';
/** Strings of these formats must look the part. */
const FORMAT_SAMPLES: Record<string, string> = {
  'date-time': '1970-01-01T00:00:00Z',
  date: '1970-01-01',
  time: '00:00:00Z',
  email: 'reference@example.com',
  hostname: 'example.com',
  ipv4: '192.0.2.1',
  ipv6: '2001:db8::1',
  uri: 'https://example.com/',
  uuid: '00000000-0000-4000-8000-000000000000',
};

type Schema = Record<string, unknown>;

const isRecord = (value: unknown): value is Schema =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
const numberOr = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

/** `#/$defs/name`, `#/definitions/name` or any other JSON pointer into the root schema. */
function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let target: unknown = root;
  for (const raw of ref
    .slice(1)
    .split('/')
    .filter((part) => part.length > 0)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (!isRecord(target) || !Object.hasOwn(target, part)) return undefined;
    target = target[part];
  }
  return target;
}

/** `allOf` as one schema: its members' properties and required names together. */
function mergeAllOf(schema: Schema, members: unknown[]): Schema {
  const { allOf: _allOf, ...rest } = schema;
  const merged: Schema = { ...rest };
  for (const member of members.filter(isRecord)) {
    const properties = { ...(isRecord(merged.properties) ? merged.properties : {}) };
    Object.assign(properties, isRecord(member.properties) ? member.properties : {});
    const required = [
      ...(Array.isArray(merged.required) ? merged.required : []),
      ...(Array.isArray(member.required) ? member.required : []),
    ];
    Object.assign(merged, member, { properties, required: [...new Set(required)] });
  }
  return merged;
}

function typeOf(schema: Schema): string | undefined {
  if (Array.isArray(schema.type)) {
    const types = schema.type.filter((type): type is string => typeof type === 'string');
    return types.find((type) => type !== 'null') ?? types[0];
  }
  if (typeof schema.type === 'string') return schema.type;
  if (isRecord(schema.properties) || Array.isArray(schema.required)) return 'object';
  if (schema.items !== undefined || Array.isArray(schema.prefixItems)) return 'array';
  return undefined;
}

function stringFor(schema: Schema): string {
  const min = Math.max(0, numberOr(schema.minLength) ?? 0);
  const max = numberOr(schema.maxLength) ?? Number.POSITIVE_INFINITY;
  const format = typeof schema.format === 'string' ? FORMAT_SAMPLES[schema.format] : undefined;
  const base = format ?? SAMPLE_TEXT;
  const long = base.length >= min ? base : base + 'x'.repeat(min - base.length);
  return long.slice(0, Math.max(min, Math.min(max, long.length)));
}

function numberFor(schema: Schema, integer: boolean): number {
  let value = 0;
  const minimum = numberOr(schema.minimum);
  const maximum = numberOr(schema.maximum);
  // Draft 4 writes exclusive bounds as booleans beside minimum/maximum, later drafts as numbers.
  const exclusiveMinimum = schema.exclusiveMinimum === true ? minimum : numberOr(schema.exclusiveMinimum);
  const exclusiveMaximum = schema.exclusiveMaximum === true ? maximum : numberOr(schema.exclusiveMaximum);
  if (minimum !== undefined && value < minimum) value = minimum;
  if (exclusiveMinimum !== undefined && value <= exclusiveMinimum) {
    value = integer ? Math.floor(exclusiveMinimum) + 1 : exclusiveMinimum + 1;
  }
  if (maximum !== undefined && value > maximum) value = maximum;
  if (exclusiveMaximum !== undefined && value >= exclusiveMaximum) {
    const lower = exclusiveMinimum ?? minimum ?? exclusiveMaximum - 2;
    value = integer
      ? Math.ceil(exclusiveMaximum) - 1
      : exclusiveMaximum - 1 > lower
        ? exclusiveMaximum - 1
        : (lower + exclusiveMaximum) / 2;
  }
  if (integer) value = value < 0 ? Math.floor(value) : Math.ceil(value);
  const multipleOf = numberOr(schema.multipleOf);
  if (multipleOf !== undefined && multipleOf > 0) value = Math.ceil(value / multipleOf) * multipleOf;
  return value;
}

/**
 * The minimal value a JSON Schema accepts, deterministically: `const`, else the first `enum`
 * value, else the first branch of `anyOf`/`oneOf`; objects with their required properties
 * (and more, up to `minProperties`), arrays of `minItems` items, strings fitted to their
 * length bounds and format, numbers within their bounds and `multipleOf`, `false`, `null`.
 * `pattern` and `uniqueItems` are not honoured.
 */
export function minimalValue(schema: unknown, root: unknown = schema, depth = 0): unknown {
  if (!isRecord(schema) || depth > MAX_SCHEMA_DEPTH) return null;
  if (Object.hasOwn(schema, 'const')) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const next = (child: unknown) => minimalValue(child, root, depth + 1);
  if (typeof schema.$ref === 'string') {
    const target = resolveRef(root, schema.$ref);
    if (target !== undefined) return next(target);
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length > 0) return next(mergeAllOf(schema, schema.allOf));
  for (const branches of [schema.anyOf, schema.oneOf]) {
    if (Array.isArray(branches) && branches.length > 0) return next(branches[0]);
  }
  switch (typeOf(schema)) {
    case 'object': {
      const properties = isRecord(schema.properties) ? schema.properties : {};
      const names = Array.isArray(schema.required)
        ? schema.required.filter((name): name is string => typeof name === 'string')
        : [];
      const minProperties = numberOr(schema.minProperties) ?? 0;
      for (const name of Object.keys(properties)) {
        if (names.length >= minProperties) break;
        if (!names.includes(name)) names.push(name);
      }
      // fromEntries defines own properties, whatever a property is called.
      return Object.fromEntries(
        names.map((name) => [name, next(Object.hasOwn(properties, name) ? properties[name] : {})]),
      );
    }
    case 'array': {
      const tuple = Array.isArray(schema.prefixItems)
        ? schema.prefixItems
        : Array.isArray(schema.items)
          ? schema.items
          : [];
      const items = tuple.map(next);
      const minItems = numberOr(schema.minItems) ?? 0;
      const rest = Array.isArray(schema.items) ? (schema.additionalItems ?? {}) : (schema.items ?? {});
      while (items.length < minItems) items.push(next(rest));
      return items;
    }
    case 'string':
      return stringFor(schema);
    case 'integer':
      return numberFor(schema, true);
    case 'number':
      return numberFor(schema, false);
    case 'boolean':
      return false;
    default:
      return null;
  }
}

/** A function's arguments: the minimal object its `parameters` accept (`{}` without any). */
export function argumentsFor(parameters: unknown): Record<string, unknown> {
  const value = minimalValue(isRecord(parameters) ? { type: 'object', ...parameters } : { type: 'object' });
  return isRecord(value) ? value : {};
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The call the reference brain answers with, if any: the function `tool_choice` names, or the
 * first tool for model `test-tools` (or `tool_choice: "required"`); never for `tool_choice:
 * "none"`. Its id comes from the request id, so a repeat of the request calls it the same.
 */
export function toolCallsFor(request: BrainRequest): ToolCall[] | undefined {
  const { tools, tool_choice: choice } = chatFormOf(request.request_params);
  if (!tools || tools.length === 0 || choice === 'none') return undefined;
  const testTools = request.api_provider === 'reference' && request.model_name === TOOLS_TEST_MODEL;
  const chosen =
    typeof choice === 'object'
      ? tools.find((tool) => tool.function.name === choice.function.name)
      : testTools || choice === 'required'
        ? tools[0]
        : undefined;
  if (!chosen) return undefined;
  return [
    {
      id: `call_${digest(`tool_call:${request.request_id}:0`).slice(0, 24)}`,
      type: 'function',
      function: {
        name: chosen.function.name,
        arguments: JSON.stringify(argumentsFor(chosen.function.parameters)),
      },
    },
  ];
}

/**
 * After the caller ran the tools (the last messages are `tool` messages): an answer that quotes
 * each output, naming the function its call was for. Undefined when the last message is not a tool's.
 */
export function toolResultsAnswer(request: BrainRequest): string | undefined {
  const messages = chatFormOf(request.request_params).messages ?? [];
  let first = messages.length;
  while (first > 0 && messages[first - 1]?.role === 'tool') first -= 1;
  const results = messages.slice(first);
  if (results.length === 0) return undefined;
  const calls = new Map(
    messages.flatMap((message) => message.tool_calls ?? []).map((call) => [call.id, call.function.name]),
  );
  const quotes = results.map((result) => {
    const name = result.tool_call_id === undefined ? undefined : calls.get(result.tool_call_id);
    return `${name === undefined ? 'the tool' : `the tool ${name}`} returned: ${result.content}`;
  });
  return `Reference brain answer for ${request.model_name}: ${quotes.join('; ')}`;
}
