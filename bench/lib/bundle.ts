/**
 * Bundles a function the way the stack does (infra/bundling.ts: minified ESM with a
 * `require` shim, on-demand modules as files of their own beside it), so bundle bytes and
 * init times are the deployed ones. Target node20 only so the bundle also runs on this
 * machine's Node.js.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BuildOptions, build } from 'esbuild';
import {
  bundlePackageJson,
  ESBUILD_SETTINGS,
  ESM_REQUIRE_BANNER,
  LAZY_MODULES,
} from '../../infra/bundling.js';

export const BENCH_BUILD_DIR = '.local/bench';

export interface Bundle {
  /** The handler file a cold start imports. */
  file: string;
  /** Its size: what every cold start parses. */
  bytes: number;
  /** The on-demand modules beside it (loaded only when used, e.g. tracing). */
  lazyBytes: number;
}

const common: BuildOptions = {
  ...ESBUILD_SETTINGS,
  mainFields: [...ESBUILD_SETTINGS.mainFields],
  bundle: true,
  target: 'node20',
  banner: { js: ESM_REQUIRE_BANNER },
  metafile: true,
  logLevel: 'error',
};

export async function bundleFunction(name: string, entry: string): Promise<Bundle> {
  const dir = join(BENCH_BUILD_DIR, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'index.mjs');
  const main = await build({
    ...common,
    entryPoints: [entry],
    outfile: file,
    external: Object.keys(LAZY_MODULES),
  });
  const imported = new Set(
    (Object.values(main.metafile?.outputs ?? {})[0]?.imports ?? []).map((entry) => entry.path),
  );
  let lazyBytes = 0;
  for (const [name, lazy] of Object.entries(LAZY_MODULES)) {
    if (!imported.has(name)) continue;
    const result = await build({ ...common, entryPoints: [lazy.source], outfile: join(dir, lazy.file) });
    lazyBytes += Object.values(result.metafile?.outputs ?? {})[0]?.bytes ?? 0;
  }
  writeFileSync(join(dir, 'package.json'), bundlePackageJson());
  return { file, bytes: Object.values(main.metafile?.outputs ?? {})[0]?.bytes ?? 0, lazyBytes };
}
