/**
 * The import rules between rooms (SPEC §1) are Biome `noRestrictedImports` overrides in
 * biome.json, run by `npm run check`. These tests lint probe files placed in each room of a
 * scratch copy of the layout, with the repository's own biome.json, and prove that every
 * forbidden import fails and the allowed ones pass.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');

interface Probe {
  /** Where the probe file sits, relative to the repository root. */
  file: string;
  specifier: string;
  allowed: boolean;
}

const PROBES: Probe[] = [
  // domain: plain values, ports for everything outside
  { file: 'shared/domain/keys/probe.ts', specifier: './ports.js', allowed: true },
  { file: 'shared/domain/keys/probe.ts', specifier: '../../errors.js', allowed: true },
  { file: 'shared/domain/keys/probe.ts', specifier: '../zod.js', allowed: true },
  { file: 'shared/domain/keys/probe.ts', specifier: 'zod', allowed: false },
  {
    file: 'shared/domain/keys/probe.ts',
    specifier: '../../adapters/dynamodb/api-key-store.js',
    allowed: false,
  },
  { file: 'shared/domain/keys/probe.ts', specifier: 'aws-lambda', allowed: false },
  { file: 'shared/domain/keys/probe.ts', specifier: '@aws-sdk/client-dynamodb', allowed: false },
  { file: 'shared/domain/keys/probe.ts', specifier: '@aws-lambda-powertools/metrics', allowed: false },
  {
    file: 'shared/domain/requests/probe.ts',
    specifier: '../../../functions/requests/handler.js',
    allowed: false,
  },
  { file: 'shared/domain/requests/probe.ts', specifier: '../../../infra/routes.js', allowed: false },
  { file: 'shared/domain/requests/probe.ts', specifier: '../../../local/stack.js', allowed: false },
  // adapters: ports, models and contracts of the domain only
  { file: 'shared/adapters/dynamodb/probe.ts', specifier: '../../domain/keys/ports.js', allowed: true },
  { file: 'shared/adapters/dynamodb/probe.ts', specifier: '../../domain/keys/model.js', allowed: true },
  { file: 'shared/adapters/probe.ts', specifier: '../domain/ports.js', allowed: true },
  { file: 'shared/adapters/probe.ts', specifier: '../domain/brain/contract.js', allowed: true },
  { file: 'shared/adapters/probe.ts', specifier: '@aws-sdk/client-dynamodb', allowed: true },
  { file: 'shared/adapters/dynamodb/probe.ts', specifier: '../../domain/keys/service.js', allowed: false },
  { file: 'shared/adapters/dynamodb/probe.ts', specifier: '../../domain/keys/verify.js', allowed: false },
  { file: 'shared/adapters/probe.ts', specifier: '../../functions/authorizer/authorize.js', allowed: false },
  { file: 'shared/adapters/probe.ts', specifier: 'aws-lambda', allowed: false },
  // the errors module imports no other room
  { file: 'shared/errors-probe.ts', specifier: './domain/ports.js', allowed: false },
  // functions: shared/ and their own folder
  {
    file: 'functions/requests/probe.ts',
    specifier: '../../shared/domain/requests/process.js',
    allowed: true,
  },
  { file: 'functions/requests/probe.ts', specifier: '../../shared/adapters/aws-clients.js', allowed: true },
  { file: 'functions/requests/probe.ts', specifier: './answers.js', allowed: true },
  { file: 'functions/requests/probe.ts', specifier: '../../local/stack.js', allowed: false },
  { file: 'functions/requests/probe.ts', specifier: '../../infra/routes.js', allowed: false },
  { file: 'functions/requests/probe.ts', specifier: 'aws-cdk-lib', allowed: false },
  // infra: never a handler, the emulator or the CLI
  { file: 'infra/probe.ts', specifier: '../shared/errors.js', allowed: true },
  { file: 'infra/probe.ts', specifier: '../functions/requests/handler.js', allowed: false },
  { file: 'infra/probe.ts', specifier: '../local/stack.js', allowed: false },
  // local: functions, shared, infra descriptions — not the stack, not the CLI
  { file: 'local/probe.ts', specifier: '../functions/requests/handler.js', allowed: true },
  { file: 'local/probe.ts', specifier: '../infra/routes.js', allowed: true },
  { file: 'local/probe.ts', specifier: '../infra/functions.js', allowed: true },
  { file: 'local/probe.ts', specifier: '../infra/keygate-stack.js', allowed: false },
  { file: 'local/probe.ts', specifier: '../infra/constructs/keygate-api.js', allowed: false },
  { file: 'local/probe.ts', specifier: '../ops/cli.js', allowed: false },
  // ops: no emulator, no handler, no stack
  { file: 'ops/probe.ts', specifier: '../infra/outputs.js', allowed: true },
  { file: 'ops/probe.ts', specifier: '../shared/adapters/aws-clients.js', allowed: true },
  { file: 'ops/probe.ts', specifier: '../local/stack.js', allowed: false },
  { file: 'ops/probe.ts', specifier: '../functions/keys-admin/handler.js', allowed: false },
  { file: 'ops/probe.ts', specifier: '../infra/keygate-stack.js', allowed: false },
];

let scratch: string;
let diagnostics: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'keygate-import-rules-'));
  // The repository's rules, without its git integration (the scratch copy is no repository).
  const config = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8')) as Record<string, unknown>;
  delete config.$schema;
  config.vcs = { enabled: false };
  writeFileSync(join(scratch, 'biome.json'), JSON.stringify(config));
  PROBES.forEach((probe, index) => {
    const file = join(scratch, probe.file.replace(/\.ts$/, `-${index}.ts`));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `import * as probe from '${probe.specifier}';\n\nexport const used = probe;\n`);
  });
  try {
    diagnostics = execFileSync(BIOME, ['lint', '--max-diagnostics=none', '.'], {
      cwd: scratch,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    diagnostics = `${failed.stdout ?? ''}${failed.stderr ?? ''}`;
  }
}, 60_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The probe files Biome refused with noRestrictedImports. */
function refused(): Set<string> {
  const files = new Set<string>();
  for (const match of diagnostics.matchAll(/^(\S+-\d+\.ts):\d+:\d+ lint\/style\/noRestrictedImports/gm)) {
    if (match[1]) files.add(match[1]);
  }
  return files;
}

describe('the import rules between rooms', () => {
  it.each(PROBES.map((probe, index) => [probe.file, probe.specifier, probe.allowed, index] as const))(
    '%s importing %s: allowed = %s',
    (file, _specifier, allowed, index) => {
      const probeFile = file.replace(/\.ts$/, `-${index}.ts`);
      expect(refused().has(probeFile)).toBe(!allowed);
    },
  );

  it('name the rule that was broken, so the fix is obvious', () => {
    expect(diagnostics).toContain('The ops CLI loads no emulator code');
    expect(diagnostics).toContain('never its logic');
  });
});
