/**
 * GitHub secret scanning's largest report end to end (SPEC §3c): 1,000 tokens — 100 live keys
 * of this stack, 600 well-formed test keys no table holds, 300 garbage strings — signed as
 * GitHub signs them and POSTed through the local HTTPS API (API Gateway emulation →
 * secret-scanning function → DynamoDB Local). The wall time is the whole answer as GitHub
 * waits for it: a fresh TLS connection, the upload, the signature check, every revocation,
 * the 1,000 labels back. Each round creates 100 fresh keys through keys-admin (a revoked key
 * stays revoked) and sends its report twice: the first report revokes the 100, the repeat
 * (GitHub retrying, or reporting the same leak again) finds them already revoked. The bench
 * fails unless every answer labels exactly the 100 live keys `true_positive`. Beside each
 * report, the floor: the same 700 conditional revoke writes sent straight to DynamoDB Local.
 */
import { request } from 'node:https';
import { performance } from 'node:perf_hooks';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SECRET_SCANNING_TIMEOUT_MS } from '../infra/functions.js';
import { SECRET_SCANNING_PATH } from '../infra/routes.js';
import { startLocalStack } from '../local/stack.js';
import { createDocumentClient, createLambdaClient } from '../shared/adapters/aws-clients.js';
import { revokeKeyItem } from '../shared/adapters/dynamodb/key-revocation.js';
import { mapConcurrently } from '../shared/domain/concurrency.js';
import { environmentOfKey, generateKey, hashKey } from '../shared/domain/keys/format.js';
import { KeyStateError } from '../shared/domain/keys/ports.js';
import type { LeakAnswer } from '../shared/domain/leaks/report.js';
import { LEAK_CONCURRENCY, LEAKED_REASON } from '../shared/domain/leaks/revocation.js';
import { benchSigner, signedHeaders } from './lib/github-signer.js';
import { median, round } from './lib/stats.js';

export const LIVE_KEYS = 100;
export const UNKNOWN_KEYS = 600;
export const GARBAGE = 300;
export const TOKENS = LIVE_KEYS + UNKNOWN_KEYS + GARBAGE;

const USER_ID = 'bench-secret-scanning';
const TOKEN_TYPE = 'keygate_api_key';

export interface ReportTimes {
  samples_ms: number[];
  median_ms: number;
  max_ms: number;
}

export interface SecretScanningBenchResult {
  tokens: number;
  live_keys: number;
  unknown_keys: number;
  garbage: number;
  rounds: number;
  /** Size of one signed report body. */
  report_bytes: number;
  /** The stack's very first report (after DynamoDB Local is warmed): keygate's code warming up; not in `first`. */
  warm_up_ms: number;
  /** Reports that revoke their 100 live keys. */
  first: ReportTimes;
  /** The same signed report again: the 100 are already revoked (still `true_positive`). */
  repeat: ReportTimes;
  /** The same conditional writes straight to DynamoDB Local, at the function's concurrency (the floor). */
  floor: { writes: number; concurrency: number; first: ReportTimes; repeat: ReportTimes };
  /** `true_positive` labels per answer (warm-up, then each round's first and repeat): all must be 100. */
  true_positives: number[];
  /** The deployed function's timeout, the bound the answer must stay under. */
  function_timeout_ms: number;
}

interface ReportItem {
  token: string;
  type: string;
  url: string;
  source: string;
}

interface AdminAnswer {
  ok: boolean;
  error?: { code: string; message: string };
  apiKey?: string;
}

async function invokeAdmin(lambda: LambdaClient, event: Record<string, unknown>): Promise<AdminAnswer> {
  const result = await lambda.send(
    new InvokeCommand({
      FunctionName: 'keys-admin',
      Payload: JSON.stringify(event),
      ClientContext: Buffer.from(JSON.stringify({ custom: { actor: 'bench' } })).toString('base64'),
    }),
  );
  const text = new TextDecoder().decode(result.Payload);
  if (result.FunctionError) throw new Error(`keys-admin failed: ${text}`);
  return JSON.parse(text) as AdminAnswer;
}

async function createLiveKeys(lambda: LambdaClient, count: number): Promise<string[]> {
  return mapConcurrently(Array.from({ length: count }), 8, async (_, index) => {
    const created = await invokeAdmin(lambda, { action: 'create', userId: USER_ID, name: `leak ${index}` });
    if (!created.ok || !created.apiKey) {
      throw new Error(`could not create a bench key: ${created.error?.message ?? 'unknown error'}`);
    }
    return created.apiKey;
  });
}

/** Not one of our keys by format or checksum: typos, truncations, other vendors' shapes, noise. */
function garbage(index: number): string {
  const key = generateKey('test').key;
  switch (index % 5) {
    case 0: // a typo in the checksum
      return `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    case 1: // truncated
      return key.slice(0, 40 + (index % 16));
    case 2: // another vendor's shape
      return `sk-${generateKey('test').key.slice(8)}`;
    case 3: // wrong prefix
      return `kg_prod_${key.slice(8)}`;
    default: // noise
      return Buffer.from(generateKey('test').key).toString('base64');
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

function buildReport(liveKeys: string[]): ReportItem[] {
  const tokens = [
    ...liveKeys,
    ...Array.from({ length: UNKNOWN_KEYS }, () => generateKey('test').key),
    ...Array.from({ length: GARBAGE }, (_, index) => garbage(index)),
  ];
  return shuffle(tokens).map((token, index) => ({
    token,
    type: TOKEN_TYPE,
    url: `https://github.com/octo-org/repo-${index % 37}/blob/4f2a9c1e0b7d3a5f6e8c9d0a1b2c3d4e5f6a7b8c/config/.env`,
    source: 'content',
  }));
}

/** POSTs the signed body on a fresh TLS connection, as GitHub does; wall time to the last byte of the answer. */
function post(url: string, ca: string, body: string, headers: Record<string, string>) {
  const target = new URL(url);
  return new Promise<{ status: number; text: string; ms: number }>((resolve, reject) => {
    const started = performance.now();
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent: false,
        ca,
        headers: {
          ...headers,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - started,
          }),
        );
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Checks every label (only the live keys are ours) and returns how many are `true_positive`. */
function checkAnswer(report: ReportItem[], live: Set<string>, status: number, text: string, what: string) {
  if (status !== 200) throw new Error(`${what}: HTTP ${status}: ${text.slice(0, 300)}`);
  const answer = JSON.parse(text) as LeakAnswer;
  if (answer.length !== report.length) {
    throw new Error(`${what}: ${answer.length} labels for ${report.length} tokens`);
  }
  let truePositives = 0;
  report.forEach((item, index) => {
    const entry = answer[index];
    const expected = live.has(item.token) ? 'true_positive' : 'false_positive';
    if (entry?.token_hash !== hashKey(item.token) || entry.label !== expected) {
      throw new Error(`${what}: token ${index} labelled ${entry?.label ?? 'nothing'}, expected ${expected}`);
    }
    if (entry.label === 'true_positive') truePositives += 1;
  });
  if (truePositives !== LIVE_KEYS) {
    throw new Error(`${what}: ${truePositives} of ${LIVE_KEYS} live keys labelled true_positive`);
  }
  return truePositives;
}

const times = (samples: number[]): ReportTimes => ({
  samples_ms: samples.map((ms) => round(ms, 1)),
  median_ms: round(median(samples), 1),
  max_ms: round(Math.max(...samples), 1),
});

/**
 * The floor: the same conditional revoke writes the function makes for such a report (one per
 * well-formed key of this stage: 100 active, 600 no table holds), straight from this process
 * to DynamoDB Local at the function's concurrency. No HTTPS, signature, parsing or labels.
 */
async function revokeWrites(
  client: DynamoDBDocumentClient,
  table: string,
  tokens: string[],
): Promise<number> {
  const now = new Date();
  const started = performance.now();
  await mapConcurrently(tokens, LEAK_CONCURRENCY, async (token) => {
    try {
      await revokeKeyItem(client, table, hashKey(token), now, LEAKED_REASON);
    } catch (error) {
      if (!(error instanceof KeyStateError)) throw error;
    }
  });
  return performance.now() - started;
}

export async function runSecretScanningBench(rounds = 5): Promise<SecretScanningBenchResult> {
  const signer = benchSigner();
  const stack = await startLocalStack({
    port: 0,
    lambdaPort: 0,
    dynamodbPort: 0,
    throttle: false,
    secretScanningPublicKeys: signer.keyDocument,
    log: () => {},
  });
  const lambda = createLambdaClient({ endpoint: stack.lambdaUrl, requestTimeoutMs: 10_000 });
  const dynamo = createDocumentClient({ endpoint: stack.dynamodbEndpoint });
  try {
    const user = await invokeAdmin(lambda, { action: 'create-user', userId: USER_ID });
    if (!user.ok) throw new Error(`could not create the bench user: ${user.error?.message ?? 'unknown'}`);
    const url = `${stack.apiUrl}${SECRET_SCANNING_PATH}`;
    const truePositives: number[] = [];
    let reportBytes = 0;

    const reportRound = async (label: string) => {
      const liveKeys = await createLiveKeys(lambda, LIVE_KEYS);
      const live = new Set(liveKeys);
      const report = buildReport(liveKeys);
      const body = JSON.stringify(report);
      reportBytes = Buffer.byteLength(body);
      const headers = signedHeaders(body, signer);
      const first = await post(url, stack.caCertPem, body, headers);
      truePositives.push(checkAnswer(report, live, first.status, first.text, `${label}, first report`));
      const repeat = await post(url, stack.caCertPem, body, headers);
      truePositives.push(checkAnswer(report, live, repeat.status, repeat.text, `${label}, repeat`));

      const floorTokens = [
        ...(await createLiveKeys(lambda, LIVE_KEYS)),
        ...Array.from({ length: UNKNOWN_KEYS }, () => generateKey('test').key),
      ].filter((token) => environmentOfKey(token) === 'test');
      const floorFirst = await revokeWrites(dynamo, stack.tableNames.apiKeys, floorTokens);
      const floorRepeat = await revokeWrites(dynamo, stack.tableNames.apiKeys, floorTokens);
      return { first: first.ms, repeat: repeat.ms, floorFirst, floorRepeat, writes: floorTokens.length };
    };

    // DynamoDB Local (Java) is slow until its JIT has seen these writes; DynamoDB is not.
    // Warm it with the floor's writes, so the first report measures keygate warming up.
    const dynamoWarmUp = [
      ...(await createLiveKeys(lambda, LIVE_KEYS)),
      ...Array.from({ length: UNKNOWN_KEYS }, () => generateKey('test').key),
    ];
    for (let pass = 0; pass < 3; pass += 1) {
      await revokeWrites(dynamo, stack.tableNames.apiKeys, dynamoWarmUp);
    }
    const warmUp = await reportRound('warm-up');
    const samples = {
      first: [] as number[],
      repeat: [] as number[],
      floorFirst: [] as number[],
      floorRepeat: [] as number[],
    };
    for (let index = 1; index <= rounds; index += 1) {
      const sample = await reportRound(`round ${index}`);
      samples.first.push(sample.first);
      samples.repeat.push(sample.repeat);
      samples.floorFirst.push(sample.floorFirst);
      samples.floorRepeat.push(sample.floorRepeat);
    }
    return {
      tokens: TOKENS,
      live_keys: LIVE_KEYS,
      unknown_keys: UNKNOWN_KEYS,
      garbage: GARBAGE,
      rounds,
      report_bytes: reportBytes,
      warm_up_ms: round(warmUp.first, 1),
      first: times(samples.first),
      repeat: times(samples.repeat),
      floor: {
        writes: warmUp.writes,
        concurrency: LEAK_CONCURRENCY,
        first: times(samples.floorFirst),
        repeat: times(samples.floorRepeat),
      },
      true_positives: truePositives,
      function_timeout_ms: SECRET_SCANNING_TIMEOUT_MS,
    };
  } finally {
    lambda.destroy();
    dynamo.destroy();
    await stack.stop();
  }
}
