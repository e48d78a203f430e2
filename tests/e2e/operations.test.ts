/**
 * "Is key X being refused, and why?" (issue 15, docs/operations.md), answered from what the
 * real functions write on the real local stack over HTTPS: the saved Logs Insights queries'
 * filters applied to the captured log lines find each key's refusals with their reason, by key
 * id, user id, key start or the request id of the caller's error answer; the audit, brain and
 * error queries find their lines; and every metric the functions emit (EMF) is on the stage's
 * dashboard with exactly its dimensions.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { savedQuery } from '../../infra/log-queries.js';
import { LOCAL_STAGE, type LocalStack } from '../../local/stack.js';
import { generateKey, keyStart } from '../../shared/domain/keys/format.js';
import { dashboardOf, metricsOf, stageConfig, synthesize } from '../infra/support.js';
import { type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';
import { type LogLine, logLinesOf, runSavedQuery } from '../support/log-queries.js';
import { captureOutput, type OutputCapture } from '../support/logs.js';
import {
  CHAT_BODY,
  callApi,
  type Envelope,
  type HttpsAnswer,
  jsonHeaders,
  modelBody,
} from './support/https.js';
import { startTestStack } from './support/stack.js';

let stack: LocalStack;
let admin: KeysAdminClient;
let capture: OutputCapture;
let lines: LogLine[] = [];
const previousMetricsSetting = process.env.POWERTOOLS_METRICS_DISABLED;

const userId = `ops-${randomUUID().slice(0, 8)}`;
const keys = {
  limited: { keyId: '', apiKey: '' },
  revoked: { keyId: '', apiKey: '' },
  scoped: { keyId: '', apiKey: '' },
  plain: { keyId: '', apiKey: '' },
  unknown: generateKey('test').key,
};
const answers: Record<string, HttpsAnswer[]> = {};

const query = savedQuery;
const call = (apiKey: string, body: string = JSON.stringify(CHAT_BODY)) =>
  callApi(stack, { headers: jsonHeaders(apiKey), body });
const requestIdOf = (answer: HttpsAnswer | undefined) =>
  (answer?.json as Envelope | undefined)?.request_id ?? '';

beforeAll(async () => {
  // EMF on (the test run turns it off), so the metrics the functions emit can be read back.
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  capture = captureOutput();
  stack = await startTestStack({ functionLogLevel: 'INFO' });
  admin = keysAdminClient(stack.lambdaUrl);

  await admin.expectOk({ action: 'create-user', userId });
  const issue = async (event: Record<string, unknown>) => {
    const answer = await admin.expectOk({ action: 'create', userId, ...event });
    return { keyId: answer.key?.keyId ?? '', apiKey: answer.apiKey ?? '' };
  };
  keys.limited = await issue({ name: 'limited', rateLimit: { limit: 2, windowSeconds: 3600 } });
  keys.revoked = await issue({ name: 'revoked' });
  keys.scoped = await issue({ name: 'scoped', scopes: { providers: ['anthropic'] } });
  keys.plain = await issue({ name: 'plain' });

  answers.limited = [];
  for (let i = 0; i < 3; i += 1) answers.limited.push(await call(keys.limited.apiKey));
  await admin.expectOk({ action: 'revoke', userId, keyId: keys.revoked.keyId });
  answers.revoked = [await call(keys.revoked.apiKey)];
  answers.scoped = [await call(keys.scoped.apiKey)];
  answers.unknown = [await call(keys.unknown)];
  // A brain failure (the reference brain's test model): an ERROR line and a failed brain call.
  answers.brainError = [await call(keys.plain.apiKey, modelBody('reference', 'test-error'))];
  answers.approved = [await call(keys.scoped.apiKey, modelBody('anthropic', 'claude-sonnet'))];

  lines = logLinesOf(capture.output());
}, 120_000);

afterAll(async () => {
  capture?.restore();
  admin?.close();
  await stack?.stop();
  if (previousMetricsSetting === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
  else process.env.POWERTOOLS_METRICS_DISABLED = previousMetricsSetting;
});

describe('the answers the scenario produced', () => {
  it('refused what it should, for the reasons ops will look up', () => {
    expect(answers.limited?.map((answer) => answer.status)).toEqual([200, 200, 429]);
    expect(answers.revoked?.[0]?.status).toBe(401);
    expect(answers.scoped?.[0]?.status).toBe(403);
    expect(answers.unknown?.[0]?.status).toBe(401);
    expect(answers.brainError?.[0]?.status).toBe(502);
    expect(answers.approved?.[0]?.status).toBe(200);
  });
});

describe('saved query key-refusals: is this key being refused, and why?', () => {
  const reasons = (found: LogLine[]) => found.map((line) => line.fields.reason);

  it('by key id: the rate-limited key shows rate_limited, the revoked key revoked, the scoped key forbidden', () => {
    expect(reasons(runSavedQuery(query('key-refusals'), lines, keys.limited.keyId))).toEqual([
      'rate_limited',
    ]);
    expect(reasons(runSavedQuery(query('key-refusals'), lines, keys.revoked.keyId))).toEqual(['revoked']);
    const scoped = runSavedQuery(query('key-refusals'), lines, keys.scoped.keyId);
    expect(reasons(scoped)).toEqual(['forbidden']);
    expect(scoped[0]?.fields.fields).toEqual(['provider']);
  });

  it('by user id: every refusal of the user’s keys', () => {
    expect(reasons(runSavedQuery(query('key-refusals'), lines, userId)).sort()).toEqual(
      ['forbidden', 'rate_limited', 'revoked'].sort(),
    );
  });

  it('by the request_id of the caller’s error answer, even for a key the store never issued', () => {
    for (const [name, reason] of [
      ['unknown', 'unknown'],
      ['revoked', 'revoked'],
      ['scoped', 'forbidden'],
    ] as const) {
      const requestId = requestIdOf(answers[name]?.[0]);
      const found = runSavedQuery(query('key-refusals'), lines, requestId);
      expect(reasons(found), name).toEqual([reason]);
    }
    const limitedId = requestIdOf(answers.limited?.[2]);
    expect(reasons(runSavedQuery(query('key-refusals'), lines, limitedId))).toEqual(['rate_limited']);
  });

  it('by key start (what a customer can read off the key safely)', () => {
    const found = runSavedQuery(query('key-refusals'), lines, keyStart(keys.unknown));
    expect(reasons(found)).toEqual(['unknown']);
  });

  it('never finds a key’s secret in any line', () => {
    for (const key of [keys.limited.apiKey, keys.revoked.apiKey, keys.scoped.apiKey, keys.unknown]) {
      expect(capture.output()).not.toContain(key.slice(12));
    }
  });

  it('every line it returns has the fields the query shows', () => {
    for (const line of runSavedQuery(query('key-refusals'), lines, userId)) {
      for (const field of ['reason', 'key_id', 'user_id', 'request_id']) {
        expect(line.fields, field).toHaveProperty(field);
      }
    }
  });
});

describe('saved query key-audit: who did what to this key', () => {
  it('shows the revocation with the actor who asked for it', () => {
    const found = runSavedQuery(query('key-audit'), lines, keys.revoked.keyId);
    expect(found.map((line) => line.fields.action)).toEqual(['create', 'revoke']);
    for (const line of found) expect(line.fields.actor).toEqual(expect.any(String));
  });

  it('by user: the user’s creation, each key, the revocation', () => {
    const actions = runSavedQuery(query('key-audit'), lines, userId).map((line) => line.fields.action);
    expect(actions).toEqual(['create-user', 'create', 'create', 'create', 'create', 'revoke']);
  });
});

describe('saved query slowest-brain-calls', () => {
  it('finds answered and failed brain calls with their time, key, provider and model', () => {
    const found = runSavedQuery(query('slowest-brain-calls'), lines);
    const ours = found.filter((line) => line.fields.user_id === userId);
    // 2 answered for the limited key, 1 answered for the scoped key, 1 failed for the plain key.
    expect(ours).toHaveLength(4);
    for (const line of ours) {
      expect(line.fields.brain_ms).toEqual(expect.any(Number));
      expect(line.fields).toMatchObject({ provider: expect.any(String), model: expect.any(String) });
    }
    expect(ours.find((line) => line.fields.message === 'brain call failed')?.fields).toMatchObject({
      code: 'brain_error',
      model: 'test-error',
      key_id: keys.plain.keyId,
    });
  });
});

describe('saved query function-errors', () => {
  it('finds the brain failure as an ERROR line of the requests function', () => {
    const found = runSavedQuery(query('function-errors'), lines);
    expect(found.some((line) => line.fields.service === 'requests')).toBe(true);
  });
});

describe('the dashboard shows every metric the functions emitted', () => {
  it('each EMF metric, with one of its dimension sets, is a line of the stage dashboard', () => {
    const { template } = synthesize(stageConfig('dev'), { bundle: false });
    const onDashboard = new Set(
      dashboardOf(template)
        .widgets.flatMap((widget) => (widget.type === 'metric' ? metricsOf(widget) : []))
        .filter((metric) => metric.namespace === 'keygate')
        .map((metric) =>
          JSON.stringify([metric.name, Object.entries({ ...metric.dimensions, stage: LOCAL_STAGE }).sort()]),
        ),
    );
    const emitted = lines.filter((line) => '_aws' in line.fields);
    const seen = new Set<string>();
    for (const { fields } of emitted) {
      const [directive] = (
        fields._aws as {
          CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }>;
        }
      ).CloudWatchMetrics;
      for (const { Name } of directive?.Metrics ?? []) {
        const sets = (directive?.Dimensions ?? []).map((names) =>
          JSON.stringify([Name, names.map((name) => [name, String(fields[name])]).sort()]),
        );
        expect(
          sets.some((set) => onDashboard.has(set)),
          `${Name} ${sets.join(' or ')}`,
        ).toBe(true);
        seen.add(`${Name}:${String(fields.outcome ?? fields.code ?? '')}`);
      }
    }
    // The scenario's metrics were all there to check.
    for (const expected of [
      'AuthDecision:allowed',
      'AuthDecision:rate_limited',
      'AuthDecision:revoked',
      'AuthDecision:unknown',
      'ScopeRefusal:',
      'RequestError:forbidden',
      'RequestError:rate_limited',
      'BrainOutcome:approved',
      'BrainLatency:brain_error',
    ]) {
      expect(seen, expected).toContain(expected);
    }
  });
});
