import {
  type GatewayResponseDefinition,
  type GatewayResponseType,
  gatewayResponse,
  gatewayResponseHeaders,
  gatewayResponseTemplate,
} from '../infra/gateway-responses.js';
/**
 * Answers made by the emulated API Gateway itself: gateway responses rendered from the
 * stack's one definition (`infra/gateway-responses.ts` — template and headers, nothing restated),
 * and the validation API Gateway applies to a Lambda proxy answer.
 */

export interface HttpAnswer {
  statusCode: number;
  /** Header name → values (several values are sent as separate header lines joined by `, `). */
  headers: Record<string, string>;
  body: Buffer;
}

export interface GatewayResponseContext {
  requestId: string;
  /** The authorizer's context, as `$context.authorizer.*` sees it (a Deny's too). */
  authorizer?: Readonly<Record<string, string | number | boolean>>;
  /** `$context.error.*`. */
  error?: { message: string; responseType: GatewayResponseType };
}

function lookup(root: unknown, path: string): string {
  let current: unknown = root;
  for (const segment of path.split('.')) {
    if (current === null || typeof current !== 'object') return '';
    current = (current as Record<string, unknown>)[segment];
  }
  return current === undefined || current === null ? '' : String(current);
}

/** The slice of VTL a gateway response template uses: `$context.a.b` and `${context.a.b}` references. */
export function renderTemplate(template: string, context: GatewayResponseContext): string {
  const root = { context };
  return template.replace(
    /\$!?\{(context(?:\.[A-Za-z0-9_]+)+)\}|\$!?(context(?:\.[A-Za-z0-9_]+)+)/g,
    (_match, braced: string | undefined, bare: string | undefined) => lookup(root, braced ?? bare ?? ''),
  );
}

/** `responseParameters` values: a quoted literal (`'application/json'`) or a `context.*` reference. */
export function resolveHeaderValue(value: string, context: GatewayResponseContext): string {
  if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) return value.slice(1, -1);
  if (value.startsWith('context.')) return lookup({ context }, value);
  return '';
}

export function renderGatewayResponse(
  definitionOrType: GatewayResponseDefinition | GatewayResponseType,
  context: GatewayResponseContext,
  statusCode?: number,
): HttpAnswer {
  const definition =
    typeof definitionOrType === 'string' ? gatewayResponse(definitionOrType) : definitionOrType;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(gatewayResponseHeaders(definition))) {
    headers[name] = resolveHeaderValue(value, context);
  }
  return {
    statusCode: statusCode ?? definition.statusCode,
    headers,
    body: Buffer.from(renderTemplate(gatewayResponseTemplate(definition), context), 'utf8'),
  };
}

const PROXY_KEYS = new Set(['statusCode', 'headers', 'multiValueHeaders', 'body', 'isBase64Encoded']);

export type ProxyValidation = { ok: true; answer: HttpAnswer } | { ok: false; reason: string };

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const headerText = (value: unknown): string | undefined =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : undefined;

/**
 * A Lambda proxy answer as API Gateway (REST) treats it: only the five known keys;
 * `statusCode` a number or numeric string (default 200); header values stringified;
 * `multiValueHeaders` values must be lists and are merged with `headers` of the same name;
 * `body` a string, sent as text even when `isBase64Encoded` (the API declares no binary media
 * types, so API Gateway does not decode it); `Content-Type` defaults to JSON.
 */
export function validateProxyResult(result: unknown): ProxyValidation {
  if (!isObject(result)) return { ok: false, reason: 'the answer is not a JSON object' };
  for (const key of Object.keys(result)) {
    if (!PROXY_KEYS.has(key)) return { ok: false, reason: `unknown key "${key}"` };
  }

  let statusCode = 200;
  if (result.statusCode !== undefined && result.statusCode !== null) {
    const raw = result.statusCode;
    const parsed =
      typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(parsed) || parsed < 100 || parsed > 599) {
      return { ok: false, reason: 'statusCode is not an HTTP status' };
    }
    statusCode = parsed;
  }

  const collected = new Map<string, { name: string; values: string[] }>();
  const add = (name: string, value: string) => {
    const entry = collected.get(name.toLowerCase()) ?? { name, values: [] };
    entry.values.push(value);
    collected.set(name.toLowerCase(), entry);
  };
  if (result.multiValueHeaders !== undefined && result.multiValueHeaders !== null) {
    if (!isObject(result.multiValueHeaders))
      return { ok: false, reason: 'multiValueHeaders is not an object' };
    for (const [name, list] of Object.entries(result.multiValueHeaders)) {
      if (!Array.isArray(list)) return { ok: false, reason: `multiValueHeaders.${name} is not a list` };
      for (const value of list) {
        const text = headerText(value);
        if (text === undefined) return { ok: false, reason: `multiValueHeaders.${name} holds a non-scalar` };
        add(name, text);
      }
    }
  }
  if (result.headers !== undefined && result.headers !== null) {
    if (!isObject(result.headers)) return { ok: false, reason: 'headers is not an object' };
    for (const [name, value] of Object.entries(result.headers)) {
      const text = headerText(value);
      if (text === undefined) return { ok: false, reason: `headers.${name} is not a scalar` };
      add(name, text);
    }
  }

  // The body goes out as the text it is, `isBase64Encoded` or not: API Gateway decodes base64
  // only for a content type listed in the API's binaryMediaTypes, and this API lists none.
  let body = Buffer.alloc(0);
  if (result.body !== undefined && result.body !== null) {
    if (typeof result.body !== 'string') return { ok: false, reason: 'body is not a string' };
    body = Buffer.from(result.body, 'utf8');
  }

  const headers: Record<string, string> = {};
  for (const { name, values } of collected.values()) headers[name] = values.join(', ');
  if (!collected.has('content-type')) headers['Content-Type'] = 'application/json';
  return { ok: true, answer: { statusCode, headers, body } };
}
