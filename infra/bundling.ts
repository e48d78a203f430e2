/**
 * How a function is bundled, for the stack (NodejsFunction) and the bench alike: one
 * minified ESM file per function, plus the modules it loads only on demand (package
 * `imports` such as `#tracer-runtime`) as files of their own beside it, with a package.json
 * that maps them, so a cold start never parses what it does not load.
 */

/** ESM output still has to load the odd CommonJS dependency that calls `require`. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __keygateCreateRequire } from 'node:module'; const require = __keygateCreateRequire(import.meta.url);";

/** On-demand modules: package import → source (as in package.json "imports") and bundled file name. */
export const LAZY_MODULES = {
  '#tracer-runtime': {
    source: 'shared/adapters/observability/tracer-runtime.ts',
    file: 'tracer-runtime.mjs',
  },
} as const;

/** esbuild settings both builds share (the bench passes `target: node20` to run on this machine). */
export const ESBUILD_SETTINGS = {
  platform: 'node',
  format: 'esm',
  minify: true,
  mainFields: ['module', 'main'],
} as const;

/** The package.json beside a bundle: ESM, and where each on-demand module lives. */
export function bundlePackageJson(): string {
  const imports = Object.fromEntries(
    Object.entries(LAZY_MODULES).map(([name, lazy]) => [name, `./${lazy.file}`]),
  );
  return JSON.stringify({ type: 'module', imports });
}

const shellQuote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/**
 * Shell commands (NodejsFunction's `afterBundling` hook, run in the project root) that
 * bundle the on-demand modules into `outputDir` and write the package.json that maps them.
 */
export function lazyModuleCommands(outputDir: string, target: string): string[] {
  const commands = Object.values(LAZY_MODULES).map((lazy) =>
    [
      'node_modules/.bin/esbuild',
      shellQuote(lazy.source),
      '--bundle',
      `--platform=${ESBUILD_SETTINGS.platform}`,
      `--format=${ESBUILD_SETTINGS.format}`,
      '--minify',
      `--target=${target}`,
      `--main-fields=${ESBUILD_SETTINGS.mainFields.join(',')}`,
      shellQuote(`--banner:js=${ESM_REQUIRE_BANNER}`),
      '--log-level=warning',
      shellQuote(`--outfile=${outputDir}/${lazy.file}`),
    ].join(' '),
  );
  commands.push(
    `printf '%s' ${shellQuote(bundlePackageJson())} > ${shellQuote(`${outputDir}/package.json`)}`,
  );
  return commands;
}
