/**
 * The API Gateway model for POST /api/v1/requests, converted from the JSON Schema that
 * `infra/openapi.ts` generates from the zod schema (never hand-copied).
 *
 * Two deliberate changes on the way:
 * - Local `$ref`s (`#/definitions/__schema0`, the recursive JSON value allowed inside
 *   `metadata`) become `{}` (any value) and `definitions` is dropped: API Gateway models
 *   reference other models by URL, not local definitions, and a recursive schema cannot be
 *   inlined. `metadata` stays `{type: object}`; its depth/size/key rules live in zod anyway.
 * - `$schema` is emitted as CDK's draft-4 marker.
 * Any keyword this converter does not know throws, so a schema change cannot silently
 * drop a constraint from the model.
 */
import * as apigw from 'aws-cdk-lib/aws-apigateway';

type Mutable<T> = { -readonly [K in keyof T]?: T[K] };
type JsonObject = Record<string, unknown>;

const SCHEMA_TYPES = new Set<string>(Object.values(apigw.JsonSchemaType));

/** Keywords copied as they are (numbers, strings, booleans, string arrays). */
const PLAIN_KEYWORDS = [
  'title',
  'description',
  'enum',
  'default',
  'format',
  'multipleOf',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'maxProperties',
  'minProperties',
  'required',
] as const satisfies ReadonlyArray<keyof apigw.JsonSchema>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function schemaType(value: unknown): apigw.JsonSchemaType {
  if (typeof value !== 'string' || !SCHEMA_TYPES.has(value)) {
    throw new Error(`request model: unsupported JSON Schema type ${JSON.stringify(value)}`);
  }
  return value as apigw.JsonSchemaType;
}

function convertNode(node: JsonObject, path: string): apigw.JsonSchema {
  if (typeof node.$ref === 'string') {
    if (!node.$ref.startsWith('#/definitions/'))
      throw new Error(`request model: unsupported $ref at ${path}`);
    return {};
  }
  const out: Mutable<apigw.JsonSchema> = {};
  for (const [keyword, value] of Object.entries(node)) {
    const at = `${path}.${keyword}`;
    if ((PLAIN_KEYWORDS as readonly string[]).includes(keyword)) {
      (out as Record<string, unknown>)[keyword] = value;
      continue;
    }
    switch (keyword) {
      case '$schema':
      case 'definitions':
        break;
      case 'type':
        out.type = Array.isArray(value) ? value.map(schemaType) : schemaType(value);
        break;
      case 'properties':
        if (!isObject(value)) throw new Error(`request model: ${at} is not an object`);
        out.properties = Object.fromEntries(
          Object.entries(value).map(([name, child]) => [name, convertChild(child, `${at}.${name}`)]),
        );
        break;
      case 'items':
        out.items = Array.isArray(value)
          ? value.map((child, i) => convertChild(child, `${at}.${i}`))
          : convertChild(value, at);
        break;
      case 'additionalProperties':
        out.additionalProperties = typeof value === 'boolean' ? value : convertChild(value, at);
        break;
      case 'anyOf':
      case 'allOf':
      case 'oneOf':
        if (!Array.isArray(value)) throw new Error(`request model: ${at} is not an array`);
        out[keyword] = value.map((child, i) => convertChild(child, `${at}.${i}`));
        break;
      case 'not':
        out.not = convertChild(value, at);
        break;
      default:
        throw new Error(`request model: unsupported JSON Schema keyword ${at}`);
    }
  }
  return out;
}

function convertChild(value: unknown, path: string): apigw.JsonSchema {
  if (!isObject(value)) throw new Error(`request model: ${path} is not a schema object`);
  return convertNode(value, path);
}

/** Draft-4 JSON Schema (plain JSON) → CDK `JsonSchema` for an API Gateway `Model`. */
export function toApiGatewaySchema(source: JsonObject): apigw.JsonSchema {
  return { ...convertNode(source, '$'), schema: apigw.JsonSchemaVersion.DRAFT4 };
}
