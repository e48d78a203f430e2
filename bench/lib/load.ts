/**
 * A small closed-loop HTTPS load generator (autocannon-style): `concurrency` workers on
 * keep-alive connections, each sending the next request when its answer arrives.
 */
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';
import { round, type Summary, summarize } from './stats.js';

export interface LoadOptions {
  url: string;
  ca: string;
  headers: Record<string, string>;
  body: string;
  concurrency: number;
  /** Requests to send in all (bounded, so the run always ends). */
  requests: number;
}

export interface LoadResult extends Summary {
  concurrency: number;
  requests_per_second: number;
  non_2xx: number;
  errors: number;
}

function send(agent: Agent, options: LoadOptions): Promise<number> {
  const target = new URL(options.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent,
        ca: options.ca,
        headers: { ...options.headers, 'Content-Length': Buffer.byteLength(options.body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, ca: options.ca });
  const samples: number[] = [];
  let next = 0;
  let non2xx = 0;
  let errors = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < options.requests) {
      next += 1;
      const sent = performance.now();
      try {
        const status = await send(agent, options);
        if (status < 200 || status > 299) non2xx += 1;
      } catch {
        errors += 1;
      }
      samples.push(performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const elapsedSeconds = (performance.now() - started) / 1000;
  agent.destroy();
  return {
    concurrency: options.concurrency,
    ...summarize(samples),
    requests_per_second: round(samples.length / elapsedSeconds, 1),
    non_2xx: non2xx,
    errors,
  };
}
