/**
 * `npm start` as a newcomer runs it: the printed curl works as pasted, the ops CLI reaches
 * the printed Invoke API, SIGTERM to npm stops everything (no Java left), and the usual
 * start-up problems (port taken, no Java) get one clear line and exit code 1.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, JAVA_MISSING_MESSAGE } from '../../local/dynamodb.js';
import { REPO_ROOT, runCliJson } from './support/cli.js';

const run = promisify(execFile);
const started: ChildProcess[] = [];

/**
 * Whatever a failed test left running: SIGTERM to the whole process group (npm, tsx, node and
 * Java), so the server can still stop Java; SIGKILL for anything left after a grace period.
 */
afterAll(async () => {
  const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
      return true;
    } catch {
      return false; // the group is gone
    }
  };
  const running = started.filter((child) => signalGroup(child, 'SIGTERM'));
  if (running.length === 0) return;
  await new Promise((resolve) => setTimeout(resolve, 5000));
  for (const child of running) signalGroup(child, 'SIGKILL');
});

interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(command: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so cleanup can reach every process under it (see afterAll).
    detached: true,
  });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** PIDs of DynamoDB Local (Java) processes listening on `port`. */
async function dynamoDbLocalPids(port: number): Promise<number[]> {
  const { stdout } = await run('ps', ['-eo', 'pid=,args=']);
  return stdout
    .split('\n')
    .filter((line) => line.includes('DynamoDBLocal.jar') && new RegExp(`-port ${port}(\\s|$)`).test(line))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

async function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(true));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });
}

describe('npm start', () => {
  it('serves the API for the printed curl and stops everything on SIGTERM', async () => {
    const [port, lambdaPort, dynamodbPort] = [await freePort(), await freePort(), await freePort()];
    const npm = start('npm', ['start'], {
      PORT: String(port),
      LAMBDA_PORT: String(lambdaPort),
      DYNAMODB_PORT: String(dynamodbPort),
    });

    const curl = await waitFor(
      () =>
        npm
          .stdout()
          .split('\n')
          .find((line) => line.startsWith('curl ')),
      `the printed curl (stdout so far: ${npm.stdout()} / stderr: ${npm.stderr()})`,
    );
    const pasted = await run('sh', ['-c', `${curl} -sS -w '\\n%{http_code}'`], { cwd: REPO_ROOT });
    const [answer = '', status = ''] = pasted.stdout.split(/\n(?=\d{3}$)/);
    const listed = await runCliJson<{ keys: Array<{ usageCount: number }> }>(
      ['list', '--user', 'demo'],
      `http://127.0.0.1:${lambdaPort}`,
    );
    const javaWhileRunning = await dynamoDbLocalPids(dynamodbPort);

    expect(curl).toContain(`https://localhost:${port}/api/v1/requests`);
    expect(curl).toContain('--cacert .local/certs/cert.pem');
    expect(status).toBe('200');
    expect(JSON.parse(answer)).toMatchObject({ success: true, decision: { outcome: 'approved' } });
    expect(listed.keys.map((key) => key.usageCount)).toEqual([1]);
    expect(npm.stdout()).toMatch(/POST \/api\/v1\/requests 200 \d+ms key_id=key_[0-9A-Za-z]+/);
    const requestLines = npm
      .stdout()
      .split('\n')
      .filter((line) => /^[A-Z]+ \//.test(line));
    expect(requestLines.length).toBeGreaterThan(0);
    for (const line of requestLines) expect(line).not.toContain('kg_test_');
    expect(javaWhileRunning).toHaveLength(1);

    npm.child.kill('SIGTERM');
    const exit = await Promise.race([
      npm.exited,
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000)),
    ]);

    expect(exit).toEqual({ code: 0, signal: null });
    expect(await dynamoDbLocalPids(dynamodbPort)).toEqual([]);
    expect(await portAccepts(port)).toBe(false);
    expect(await portAccepts(lambdaPort)).toBe(false);
  }, 90_000);

  it('says in one line that a port is taken, exits 1 and leaves no Java behind', async () => {
    const [port, lambdaPort, dynamodbPort] = [await freePort(), await freePort(), await freePort()];
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
    try {
      const npm = start('npm', ['start'], {
        PORT: String(port),
        LAMBDA_PORT: String(lambdaPort),
        DYNAMODB_PORT: String(dynamodbPort),
      });

      const exit = await npm.exited;

      expect(exit.code).toBe(1);
      const lines = npm
        .stderr()
        .split('\n')
        .filter((line) => line.includes('already in use'));
      expect(lines).toEqual([
        `Port ${port} (local HTTPS API) is already in use: stop whatever listens there or choose another port with PORT=<port>.`,
      ]);
      expect(await dynamoDbLocalPids(dynamodbPort)).toEqual([]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  }, 60_000);

  it('says in one line that Java 17+ is needed when the installed Java is older', async () => {
    const [port, lambdaPort, dynamodbPort] = [await freePort(), await freePort(), await freePort()];
    const bin = await mkdtemp(join(tmpdir(), 'keygate-old-java-'));
    // What Java 8 prints for DynamoDB Local's class files.
    await writeFile(
      join(bin, 'java'),
      '#!/bin/sh\necho "Error: LinkageError occurred while loading main class com.amazonaws.services.dynamodbv2.local.main.ServerRunner" >&2\necho "\tjava.lang.UnsupportedClassVersionError: has been compiled by a more recent version of the Java Runtime (class file version 61.0)" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    try {
      const server = start(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
        PATH: bin,
        PORT: String(port),
        LAMBDA_PORT: String(lambdaPort),
        DYNAMODB_PORT: String(dynamodbPort),
      });

      const exit = await server.exited;

      expect(exit.code).toBe(1);
      expect(server.stderr().trim()).toBe(JAVA_MISSING_MESSAGE);
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  }, 60_000);

  it('says in one line how to get Java when it is missing', async () => {
    const [port, lambdaPort, dynamodbPort] = [await freePort(), await freePort(), await freePort()];
    const server = start(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
      PATH: '/nonexistent',
      PORT: String(port),
      LAMBDA_PORT: String(lambdaPort),
      DYNAMODB_PORT: String(dynamodbPort),
    });

    const exit = await server.exited;

    expect(exit.code).toBe(1);
    expect(server.stderr().trim()).toBe(JAVA_MISSING_MESSAGE);
  }, 60_000);
});
