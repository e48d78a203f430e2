/**
 * The events API Gateway (REST, Lambda proxy) sends: the REQUEST authorizer's event and the
 * integration's `APIGatewayProxyEvent`, shaped after events captured from AWS (header names
 * as the client spelled them, `null` for empty maps in the proxy event, `{}` in the
 * authorizer event, the authorizer context stringified plus `principalId` and a numeric
 * `integrationLatency`).
 */
import { randomBytes } from 'node:crypto';
import type {
  APIGatewayEventIdentity,
  APIGatewayEventRequestContextWithAuthorizer,
  APIGatewayProxyEvent,
  APIGatewayRequestAuthorizerEvent,
} from 'aws-lambda';

/** What the emulation knows about one incoming HTTP request. */
export interface IncomingHttpRequest {
  method: string;
  /** The path as sent, without the query string. */
  path: string;
  query: URLSearchParams;
  /** Node's `rawHeaders`: names as the client spelled them, duplicates kept, in order. */
  rawHeaders: readonly string[];
  body: string | null;
  sourceIp: string;
  localPort: number;
  requestId: string;
  receivedAt: Date;
}

/** The API (stage, ids) the request arrived at and the resource it matched. */
export interface ApiInfo {
  apiId: string;
  stage: string;
  accountId: string;
  region: string;
  deploymentId: string;
  domainName: string;
}

export interface MatchedResource {
  resourcePath: string;
  resourceId: string;
}

export type HeaderMap = Record<string, string>;
export type MultiHeaderMap = Record<string, string[]>;

/** Hop-by-hop headers API Gateway's front end does not pass on. */
const DROPPED_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade']);

/**
 * `headers` holds the last value of each header, `multiValueHeaders` all of them; the first
 * spelling of a name is kept. API Gateway adds the X-Forwarded-* headers itself.
 */
export function headerMaps(request: IncomingHttpRequest): { headers: HeaderMap; multi: MultiHeaderMap } {
  const headers: HeaderMap = {};
  const multi: MultiHeaderMap = {};
  const spelling = new Map<string, string>();
  const add = (name: string, value: string) => {
    const lower = name.toLowerCase();
    const key = spelling.get(lower) ?? name;
    spelling.set(lower, key);
    headers[key] = value;
    const list = multi[key] ?? [];
    list.push(value);
    multi[key] = list;
  };
  const raw = request.rawHeaders;
  let forwardedFor: string | undefined;
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = raw[index] ?? '';
    const value = raw[index + 1] ?? '';
    const lower = name.toLowerCase();
    if (DROPPED_HEADERS.has(lower) || lower.startsWith('x-forwarded-')) {
      if (lower === 'x-forwarded-for') forwardedFor = forwardedFor ? `${forwardedFor}, ${value}` : value;
      continue;
    }
    add(name, value);
  }
  add('X-Forwarded-For', forwardedFor ? `${forwardedFor}, ${request.sourceIp}` : request.sourceIp);
  add('X-Forwarded-Port', String(request.localPort));
  add('X-Forwarded-Proto', 'https');
  return { headers, multi };
}

export function queryMaps(query: URLSearchParams): {
  single: Record<string, string>;
  multi: Record<string, string[]>;
} {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of query) {
    single[name] = value;
    const list = multi[name] ?? [];
    list.push(value);
    multi[name] = list;
  }
  return { single, multi };
}

/** `arn:aws:execute-api:region:account:apiId/stage/METHOD/path-without-leading-slash`. */
export function methodArn(api: ApiInfo, method: string, path: string): string {
  return `arn:aws:execute-api:${api.region}:${api.accountId}:${api.apiId}/${api.stage}/${method}/${path.replace(/^\//, '')}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `17/Jun/2024:15:02:03 +0000`, API Gateway's `requestTime`. */
export function requestTime(date: Date): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(
    date.getUTCHours(),
  )}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

function identityOf(request: IncomingHttpRequest, headers: HeaderMap): APIGatewayEventIdentity {
  const userAgent = Object.entries(headers).find(([name]) => name.toLowerCase() === 'user-agent')?.[1];
  return {
    accessKey: null,
    accountId: null,
    apiKey: null,
    apiKeyId: null,
    caller: null,
    clientCert: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp: request.sourceIp,
    user: null,
    userAgent: userAgent ?? null,
    userArn: null,
  };
}

/** The typings lack `deploymentId`, which AWS sends (see the captured events). */
type RequestContextBase = Omit<APIGatewayEventRequestContextWithAuthorizer<undefined>, 'authorizer'> & {
  deploymentId: string;
};

function baseRequestContext(
  request: IncomingHttpRequest,
  api: ApiInfo,
  resource: MatchedResource,
  headers: HeaderMap,
): RequestContextBase {
  return {
    resourceId: resource.resourceId,
    resourcePath: resource.resourcePath,
    httpMethod: request.method,
    extendedRequestId: `${randomBytes(11).toString('base64').slice(0, 15)}=`,
    requestTime: requestTime(request.receivedAt),
    // The local URL has no stage segment, like a custom domain: the path is the one requested.
    path: request.path,
    accountId: api.accountId,
    protocol: 'HTTP/1.1',
    stage: api.stage,
    domainPrefix: api.domainName.split('.')[0] ?? api.domainName,
    requestTimeEpoch: request.receivedAt.getTime(),
    requestId: request.requestId,
    identity: identityOf(request, headers),
    domainName: api.domainName,
    deploymentId: api.deploymentId,
    apiId: api.apiId,
  };
}

export function buildAuthorizerEvent(
  request: IncomingHttpRequest,
  api: ApiInfo,
  resource: MatchedResource,
): APIGatewayRequestAuthorizerEvent {
  const { headers, multi } = headerMaps(request);
  const query = queryMaps(request.query);
  return {
    type: 'REQUEST',
    methodArn: methodArn(api, request.method, request.path),
    resource: resource.resourcePath,
    path: request.path,
    httpMethod: request.method,
    headers,
    multiValueHeaders: multi,
    queryStringParameters: query.single,
    multiValueQueryStringParameters: query.multi,
    pathParameters: {},
    stageVariables: {},
    // `authorizer` is absent on the wire (undefined is dropped by JSON); the typings want the key.
    requestContext: { ...baseRequestContext(request, api, resource, headers), authorizer: undefined },
  };
}

/** The authorizer context as the integration sees it: every value a string. */
export type IntegrationAuthorizerContext = Record<string, string | number> & {
  principalId: string;
  integrationLatency: number;
};

export function integrationAuthorizerContext(
  principalId: string,
  context: Record<string, string | number | boolean>,
  integrationLatency: number,
): IntegrationAuthorizerContext {
  const stringified: Record<string, string> = {};
  for (const [name, value] of Object.entries(context)) stringified[name] = String(value);
  return { ...stringified, principalId, integrationLatency };
}

export function buildProxyEvent(
  request: IncomingHttpRequest,
  api: ApiInfo,
  resource: MatchedResource,
  authorizer: IntegrationAuthorizerContext | undefined,
): APIGatewayProxyEvent {
  const { headers, multi } = headerMaps(request);
  const query = queryMaps(request.query);
  const hasQuery = Object.keys(query.single).length > 0;
  return {
    resource: resource.resourcePath,
    path: request.path,
    httpMethod: request.method,
    headers,
    multiValueHeaders: multi,
    queryStringParameters: hasQuery ? query.single : null,
    multiValueQueryStringParameters: hasQuery ? query.multi : null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      ...baseRequestContext(request, api, resource, headers),
      authorizer: authorizer ?? null,
    },
    body: request.body,
    isBase64Encoded: false,
  };
}
