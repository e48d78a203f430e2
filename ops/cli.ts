/**
 * Ops CLI entry point: `npm run keys -- <action> [flags]` (SPEC §6). Wires the jobs together:
 * parse the flags into a keys-admin event (`args.ts`), invoke the function where it runs
 * (`invoke.ts`, `target.ts`: the local Invoke API of `npm start` by default, a deployed stage
 * with `--stage NAME`) as many times as the action takes (`run.ts`: every page of `usage`, a
 * suspension repeated until complete) with progress on a terminal's stderr (`progress.ts`),
 * and print a readable table or `--json` (`render.ts`); in a pipe, a long action ends with a
 * plain summary line. Exit codes: 0 done, 1 refused or unreachable, 2 bad usage.
 */
import { type CliCommand, parseCli, UsageError, usage } from './args.js';
import { createInvoker, type Invoker } from './invoke.js';
import { createProgress, type Progress } from './progress.js';
import { type OkAnswer, render } from './render.js';
import { type ActionRun, runAction } from './run.js';
import type { Target } from './target.js';

// The SDK warns that Node.js 20 support ends in 2027; Lambda runs Node.js 24, so for this
// local tool the warning is noise. An explicit setting in the environment still wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;

/** What `main` talks to; tests replace them (no terminal, no function). */
export interface CliDeps {
  invokerFor(target: Target): Invoker;
  /** Progress on stderr: drawn only when it is a terminal. */
  progress: Progress;
}

export async function main(argv: readonly string[], deps: Partial<CliDeps> = {}): Promise<number> {
  let command: CliCommand | 'help';
  try {
    command = parseCli(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${usage()}`);
    return EXIT_USAGE;
  }
  if (command === 'help') {
    console.log(usage());
    return EXIT_OK;
  }
  const progress = deps.progress ?? createProgress();
  const invoker = (deps.invokerFor ?? createInvoker)(command.target);
  let run: ActionRun;
  try {
    run = await runAction(command, {
      invoke: (event) => invoker.invoke(event),
      progress,
      note: (line) => console.error(line),
    });
  } catch (error) {
    progress.clear();
    console.error(error instanceof Error ? error.message : String(error));
    return EXIT_REFUSED;
  } finally {
    invoker.close();
  }
  // The progress line goes before anything final is printed.
  progress.clear();
  const { result } = run;
  if (result.functionError) {
    // The function threw (not a refusal it chose): Lambda's error payload, not an answer.
    const payload = result.payload as { errorType?: string; errorMessage?: string } | null;
    if (command.json) console.log(JSON.stringify(result.payload, null, 2));
    console.error(
      `keys-admin failed (${result.functionError}): ${payload?.errorType ?? 'Error'}: ${payload?.errorMessage ?? ''}`,
    );
    return EXIT_REFUSED;
  }
  const answer = result.payload as OkAnswer | { ok: false; error: { code: string; message: string } };
  if (command.json) console.log(JSON.stringify(answer, null, 2));
  if (answer?.ok !== true) {
    const error = (answer as { error?: { code?: string; message?: string } } | null)?.error;
    console.error(`error ${error?.code ?? 'unknown'}: ${error?.message ?? 'keys-admin refused the request'}`);
    return EXIT_REFUSED;
  }
  if (!command.json) {
    console.log(render(command.action, answer));
    // A terminal saw the progress; a pipe (a log, CI) gets what was done as one plain last line.
    if (!progress.shown && run.summary) console.log(run.summary);
  }
  return EXIT_OK;
}

// Only when run as a script (`tsx ops/cli.ts`), so importing `main` has no side effects.
const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      process.exitCode = EXIT_REFUSED;
    },
  );
}
