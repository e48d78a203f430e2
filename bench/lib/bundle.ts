/**
 * Bundles a function the way the stack does (esbuild, minified, ESM with a `require`
 * shim for CommonJS dependencies), so bundle bytes and init times are the deployed ones.
 * Target node20 only so the bundle also runs on this machine's Node.js.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

export const BENCH_BUILD_DIR = '.local/bench';

export async function bundleFunction(name: string, entry: string): Promise<{ file: string; bytes: number }> {
  mkdirSync(BENCH_BUILD_DIR, { recursive: true });
  const file = join(BENCH_BUILD_DIR, `${name}.mjs`);
  const result = await build({
    entryPoints: [entry],
    outfile: file,
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    metafile: true,
    logLevel: 'error',
  });
  const output = Object.values(result.metafile.outputs)[0];
  return { file, bytes: output?.bytes ?? 0 };
}
