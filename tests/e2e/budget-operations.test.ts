/**
 * Spend budgets as ops see them on the real local stack (issue 22, SPEC §5b, §8): the stage's
 * default per-call hold reaches keys-admin (0.50), a budgeted key's calls are settled and then
 * refused, and what the functions wrote is what the stage's dashboard and saved query read —
 * the budget metrics (EMF) with exactly their dimensions, the `budget settled` lines the top
 * spending keys are summed from, and the saved query of a key's spend.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUDGET_SETTLED_MESSAGE, savedQuery } from '../../infra/log-queries.js';
import { BUDGET_METRICS } from '../../infra/metrics.js';
import { LOCAL_STAGE, type LocalStack } from '../../local/stack.js';
import { dashboardOf, metricsOf, stageConfig, synthesize } from '../infra/support.js';
import { type KeysAdminClient, keysAdminClient } from '../support/keys-admin-client.js';
import { type LogLine, logLinesOf, runSavedQuery } from '../support/log-queries.js';
import { captureOutput, type OutputCapture } from '../support/logs.js';
import { CHAT_BODY, callApi, type Envelope, type HttpsAnswer, jsonHeaders } from './support/https.js';
import { startTestStack } from './support/stack.js';

let stack: LocalStack;
let admin: KeysAdminClient;
let capture: OutputCapture;
let lines: LogLine[] = [];
const previousMetricsSetting = process.env.POWERTOOLS_METRICS_DISABLED;

const userId = `spend-${randomUUID().slice(0, 8)}`;
const budgeted = { keyId: '', apiKey: '' };
let defaultHold: unknown;
const answers: HttpsAnswer[] = [];
// A call the reference brain approves and pays for (a small amount, far below the hold).
const approvedBody = JSON.stringify(CHAT_BODY);

beforeAll(async () => {
  // EMF on (the test run turns it off), so the metrics the functions emit can be read back.
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  capture = captureOutput();
  stack = await startTestStack({ functionLogLevel: 'INFO' });
  admin = keysAdminClient(stack.lambdaUrl);

  await admin.expectOk({ action: 'create-user', userId });
  // The hold is the whole budget: one call fits, the next is refused.
  const created = await admin.expectOk({
    action: 'create',
    userId,
    name: 'budgeted',
    budget: { limit: 0.3, period: 'day', perCallHold: 0.3 },
  });
  budgeted.keyId = created.key?.keyId ?? '';
  budgeted.apiKey = created.apiKey ?? '';
  // No perCallHold: the stage's default, which the local stack passes to keys-admin.
  const plain = await admin.expectOk({
    action: 'create',
    userId,
    name: 'default hold',
    budget: { limit: 5, period: 'month' },
  });
  defaultHold = (plain.key as { budget?: { perCallHold?: unknown } } | undefined)?.budget?.perCallHold;

  for (let i = 0; i < 2; i += 1) {
    answers.push(await callApi(stack, { headers: jsonHeaders(budgeted.apiKey), body: approvedBody }));
  }
  lines = logLinesOf(capture.output());
}, 120_000);

afterAll(async () => {
  capture?.restore();
  admin?.close();
  await stack?.stop();
  if (previousMetricsSetting === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
  else process.env.POWERTOOLS_METRICS_DISABLED = previousMetricsSetting;
});

describe('a budgeted key on the local stack', () => {
  it('gets the stage’s default hold of 0.50 when its budget names none', () => {
    expect(defaultHold).toBe(0.5);
  });

  it('is settled once, then refused with 429 budget_exceeded', () => {
    expect(answers.map((answer) => answer.status)).toEqual([200, 429]);
    expect((answers[1]?.json as Envelope | undefined)?.error).toMatchObject({ code: 'budget_exceeded' });
  });
});

describe('saved query key-spend', () => {
  it('finds the key’s settled call with what it paid and held, and its refusal', () => {
    const found = runSavedQuery(savedQuery('key-spend'), lines, budgeted.keyId);
    expect(found.map((line) => line.fields.message)).toEqual([BUDGET_SETTLED_MESSAGE, 'budget exceeded']);
    const [settled] = found;
    expect(settled?.fields).toMatchObject({
      service: 'requests',
      key_id: budgeted.keyId,
      user_id: userId,
      held_usd: '0.300000',
      paid_usd: expect.stringMatching(/^0\.\d{6}$/),
      spent_usd: expect.stringMatching(/^0\.\d{6}$/),
      remaining_usd: expect.stringMatching(/^0\.\d{6}$/),
      budget_id: expect.any(String),
      request_id: expect.any(String),
    });
    // The top spending keys are summed from this number.
    expect(Number.isSafeInteger(settled?.fields.paid_micros)).toBe(true);
    expect(settled?.fields.paid_micros).toBeGreaterThan(0);
    expect(Number(settled?.fields.paid_usd)).toBe((settled?.fields.paid_micros as number) / 1_000_000);
  });

  it('finds it by user id too', () => {
    const keys = runSavedQuery(savedQuery('key-spend'), lines, userId).map((line) => line.fields.key_id);
    expect(new Set(keys)).toEqual(new Set([budgeted.keyId]));
  });
});

describe('the budget metrics the requests function emitted', () => {
  it('are lines of the stage dashboard with exactly their dimensions', () => {
    const { template } = synthesize(stageConfig('dev'), { bundle: false });
    const onDashboard = new Set(
      dashboardOf(template)
        .widgets.flatMap((widget) => (widget.type === 'metric' ? metricsOf(widget) : []))
        .filter((metric) => metric.namespace === 'keygate')
        .map((metric) =>
          JSON.stringify([metric.name, Object.entries({ ...metric.dimensions, stage: LOCAL_STAGE }).sort()]),
        ),
    );
    const seen = new Map<string, number>();
    for (const { fields } of lines.filter((line) => '_aws' in line.fields)) {
      const [directive] = (
        fields._aws as {
          CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }>;
        }
      ).CloudWatchMetrics;
      for (const { Name } of directive?.Metrics ?? []) {
        if (!Name.startsWith('Budget')) continue;
        const sets = (directive?.Dimensions ?? []).map((names) =>
          JSON.stringify([Name, names.map((name) => [name, String(fields[name])]).sort()]),
        );
        expect(
          sets.some((set) => onDashboard.has(set)),
          `${Name} ${sets.join(' or ')}`,
        ).toBe(true);
        seen.set(Name, (seen.get(Name) ?? 0) + Number(fields[Name]));
      }
    }
    expect(seen.get(BUDGET_METRICS.refusal)).toBe(1);
    // BudgetSpend is USD: what the one settled call paid.
    const settled = runSavedQuery(savedQuery('key-spend'), lines, budgeted.keyId)[0];
    expect(seen.get(BUDGET_METRICS.spend)).toBeCloseTo(Number(settled?.fields.paid_usd), 6);
  });
});
