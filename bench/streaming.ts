/**
 * Streaming time to first byte (SPEC §9): `stream: true` on POST /v1/chat/completions through
 * the local HTTPS API (the requests function streaming, the reference brain streaming its
 * paced deltas), side by side in one run: when the first byte of the answer arrives, when the
 * first content delta arrives, and when the whole answer has arrived. The first byte must
 * leave before half of the whole.
 */
import { request } from 'node:https';
import { performance } from 'node:perf_hooks';
import { startLocalStack } from '../local/stack.js';
import { table } from './lib/markdown.js';
import { round, type Summary, summarize } from './lib/stats.js';

export interface StreamingCheck {
  name: string;
  target: string;
  value: number;
  ok: boolean;
}

export interface StreamingBenchResult {
  rounds: number;
  first_byte: Summary;
  first_content: Summary;
  whole_answer: Summary;
  /** Median first byte ÷ median whole answer. */
  first_byte_share: number;
  events_per_answer: number;
  checks: StreamingCheck[];
}

const BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Benchmark: tell a short story about an API key in a few sentences.' }],
  stream: true,
});

interface Timed {
  firstByteMs: number;
  firstContentMs: number;
  wholeMs: number;
  events: number;
}

function streamOnce(url: string, ca: string, apiKey: string): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let firstByteMs = Number.NaN;
    let firstContentMs = Number.NaN;
    let text = '';
    const outgoing = request(
      url,
      {
        method: 'POST',
        ca,
        agent: false,
        headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
      },
      (response) => {
        if (response.statusCode !== 200) reject(new Error(`stream answered ${response.statusCode}`));
        response.on('data', (chunk: Buffer) => {
          const now = performance.now() - started;
          if (Number.isNaN(firstByteMs)) firstByteMs = now;
          text += chunk.toString('utf8');
          if (Number.isNaN(firstContentMs) && text.includes('"content":"') && /"content":"[^"]/.test(text)) {
            firstContentMs = now;
          }
        });
        response.on('end', () => {
          if (!text.endsWith('data: [DONE]\n\n')) reject(new Error('the stream did not end with [DONE]'));
          resolve({
            firstByteMs,
            firstContentMs,
            wholeMs: performance.now() - started,
            events: text.split('\n\n').filter((event) => event.startsWith('data: ')).length,
          });
        });
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(BODY);
  });
}

export async function runStreamingBench(rounds = 40): Promise<StreamingBenchResult> {
  const stack = await startLocalStack({
    port: 0,
    lambdaPort: 0,
    throttle: false,
    seedDemo: true,
    log: () => {},
  });
  try {
    const apiKey = stack.demo?.apiKey;
    if (!apiKey) throw new Error('the local stack did not seed a demo key');
    const url = `${stack.apiUrl}/v1/chat/completions`;
    for (let index = 0; index < 5; index += 1) await streamOnce(url, stack.caCertPem, apiKey); // warm up
    const timed: Timed[] = [];
    for (let index = 0; index < rounds; index += 1)
      timed.push(await streamOnce(url, stack.caCertPem, apiKey));
    const firstByte = summarize(timed.map((entry) => entry.firstByteMs));
    const whole = summarize(timed.map((entry) => entry.wholeMs));
    const share = round(firstByte.median_ms / whole.median_ms, 3);
    return {
      rounds,
      first_byte: firstByte,
      first_content: summarize(timed.map((entry) => entry.firstContentMs)),
      whole_answer: whole,
      first_byte_share: share,
      events_per_answer: round(timed.reduce((sum, entry) => sum + entry.events, 0) / timed.length, 1),
      checks: [
        { name: 'first byte ÷ whole answer (median)', target: '< 0.5', value: share, ok: share < 0.5 },
      ],
    };
  } finally {
    await stack.stop();
  }
}

/** The README section: first byte, first content and the whole answer, side by side. */
export function streamingSection(result: StreamingBenchResult): string {
  const row = (label: string, summary: Summary) => [label, summary.median_ms, summary.p90_ms, summary.p99_ms];
  return [
    `**Streaming** — \`stream: true\` on POST /v1/chat/completions through the local HTTPS API, ${result.rounds} answers of ${result.events_per_answer} events each (the reference brain paces its deltas 40 ms apart; target: the first byte before half of the whole answer):`,
    '',
    table(
      ['', 'median ms', 'p90 ms', 'p99 ms'],
      [
        row('first byte (the role chunk, once the brain has decided)', result.first_byte),
        row('first content delta', result.first_content),
        row('whole answer (`[DONE]`)', result.whole_answer),
      ],
    ),
    '',
    `First byte ÷ whole answer: **${result.first_byte_share}** (${result.checks.every((check) => check.ok) ? '✓' : '✗'} < 0.5).`,
  ].join('\n');
}
