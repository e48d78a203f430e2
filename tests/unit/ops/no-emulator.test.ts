/**
 * The ops CLI talks to functions only through the Lambda Invoke API, so it must not load the
 * local emulator (`local/`) or function code (`functions/`): walks the relative imports of
 * every `ops/` module, transitively, and checks where they lead. Static, so it sees imports
 * on every path, not only the ones one run happens to take; type-only imports count too.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FORBIDDEN = ['local', 'functions'];

/** The `.ts` file a relative specifier names (`./x.js` is `./x.ts` under NodeNext). */
function resolveSpecifier(from: string, specifier: string): string {
  const base = resolve(dirname(from), specifier);
  const candidates = [
    base.replace(/\.js$/, '.ts'),
    base.replace(/\.mjs$/, '.mts'),
    base,
    `${base}.ts`,
    join(base, 'index.ts'),
  ];
  const found = candidates.find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
  if (!found) throw new Error(`${relative(ROOT, from)} imports "${specifier}", which resolves to no file`);
  return found;
}

/** Every file reachable from `entries` through relative imports, repository-relative with `/`. */
function reachableFiles(entries: readonly string[]): Map<string, string> {
  /** file → the file that first imported it (for a readable failure). */
  const reached = new Map<string, string>();
  const queue = entries.map((entry) => ({ file: entry, from: '(entry)' }));
  while (queue.length > 0) {
    const next = queue.shift();
    if (!next) break;
    const name = relative(ROOT, next.file).split(sep).join('/');
    if (reached.has(name)) continue;
    reached.set(name, next.from);
    if (!/\.[cm]?[jt]s$/.test(next.file)) continue;
    const { importedFiles } = ts.preProcessFile(readFileSync(next.file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (fileName.startsWith('.')) queue.push({ file: resolveSpecifier(next.file, fileName), from: name });
    }
  }
  return reached;
}

function opsModules(dir = join(ROOT, 'ops')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return opsModules(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('ops CLI imports', () => {
  const reached = reachableFiles(opsModules());

  it('walks the whole CLI', () => {
    for (const file of [
      'ops/cli.ts',
      'ops/args.ts',
      'ops/target.ts',
      'ops/invoke.ts',
      'ops/run.ts',
      'ops/progress.ts',
      'ops/render.ts',
    ]) {
      expect(reached.has(file), file).toBe(true);
    }
    expect(reached.has('infra/local-endpoints.ts')).toBe(true);
    expect(reached.has('shared/adapters/aws-clients.ts')).toBe(true);
  });

  it('loads nothing from the emulator or the functions', () => {
    const offending = [...reached]
      .filter(([file]) => FORBIDDEN.some((dir) => file.startsWith(`${dir}/`)))
      .map(([file, from]) => `${file} (imported by ${from})`);

    expect(offending).toEqual([]);
  });
});
