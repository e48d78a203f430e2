/** Runs the ops CLI as a user does: a separate process, flags on the command line. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ops/cli.ts` with `args`, plus `--endpoint` when given (omit it to test --stage). */
export function runCli(
  args: readonly string[],
  endpoint: string | undefined,
  env: Record<string, string> = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'ops/cli.ts', ...args, ...(endpoint ? ['--endpoint', endpoint] : [])],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `--json` output of a successful CLI run. */
export async function runCliJson<T>(args: readonly string[], endpoint: string): Promise<T> {
  const run = await runCli([...args, '--json'], endpoint);
  if (run.code !== 0) throw new Error(`CLI ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}
