/**
 * Ops CLI: `npm run keys -- <action> [flags]`. Turns flags into a keys-admin event (SPEC §6)
 * and invokes the function through the Lambda Invoke API with the unchanged AWS SDK client:
 * the local one (`npm start`) by default, a deployed stage with `--stage NAME` (function name
 * from the stack's CloudFormation outputs). Prints a readable table, or `--json`.
 */
import { hostname, userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DEFAULT_LAMBDA_PORT } from '../infra/local-endpoints.js';
import { STACK_OUTPUTS, stackNameFor } from '../infra/outputs.js';
import { STAGE_NAMES, type StageName } from '../infra/stages.js';
import { createLambdaClient } from '../shared/adapters/aws-clients.js';
import type { KeyMetadata, UserView } from '../shared/domain/keys/model.js';
import { ADMIN_ACTIONS, type AdminAction } from '../shared/domain/admin/events.js';

// The SDK warns that Node.js 20 support ends in 2027; Lambda runs Node.js 24, so for this
// local tool the warning is noise. An explicit setting in the environment still wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;

type Flag = 'user' | 'name' | 'project' | 'expires' | 'key' | 'reason' | 'grace' | 'limit' | 'next-token';

/** Which flags each action takes; `required` ones must be given. */
const ACTION_FLAGS: Record<AdminAction, { required: Flag[]; optional: Flag[]; usage: string }> = {
  'create-user': {
    required: ['user'],
    optional: ['project'],
    usage: '--user ID [--project DEFAULT_PROJECT_ID]',
  },
  create: {
    required: ['user'],
    optional: ['name', 'project', 'expires'],
    usage: '--user ID [--name NAME] [--project ID] [--expires ISO-8601|30d|12h]',
  },
  list: {
    required: ['user'],
    optional: ['limit', 'next-token'],
    usage: '--user ID [--limit N] [--next-token TOKEN]',
  },
  get: { required: ['user', 'key'], optional: [], usage: '--user ID --key KEY_ID' },
  revoke: {
    required: ['user', 'key'],
    optional: ['reason'],
    usage: '--user ID --key KEY_ID [--reason TEXT]',
  },
  rotate: {
    required: ['user'],
    optional: ['key', 'grace', 'name'],
    usage: '--user ID [--key KEY_ID] [--grace SECONDS] [--name NAME]',
  },
  'suspend-user': { required: ['user'], optional: [], usage: '--user ID' },
  'reactivate-user': { required: ['user'], optional: [], usage: '--user ID' },
};

export function usage(): string {
  const width = Math.max(...ADMIN_ACTIONS.map((action) => action.length));
  return [
    'Usage: npm run keys -- <action> [flags]',
    '',
    'Actions (the keys-admin events):',
    ...ADMIN_ACTIONS.map((action) => `  ${action.padEnd(width)}  ${ACTION_FLAGS[action].usage}`),
    '',
    'Where:',
    `  --endpoint URL  a local Invoke API (default http://127.0.0.1:\${LAMBDA_PORT:-${DEFAULT_LAMBDA_PORT}}, i.e. npm start)`,
    `  --stage NAME    the deployed stage (${STAGE_NAMES.join('|')}): the function named by stack keygate-NAME's`,
    '                  outputs; AWS credentials and region come from the usual AWS configuration',
    'Output:',
    '  --json          print the function answer as JSON (for scripts)',
    '  -h, --help      this text',
    '',
    'Examples:',
    '  npm run keys -- create-user --user u1',
    '  npm run keys -- create --user u1 --name ci',
    '  npm run keys -- list --user u1',
    '  npm run keys -- revoke --user u1 --key key_…',
    '  npm run keys -- rotate --user u1 --grace 3600',
  ].join('\n');
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CliCommand {
  action: AdminAction;
  event: Record<string, unknown>;
  json: boolean;
  target: { kind: 'local'; endpoint: string } | { kind: 'stage'; stage: StageName };
}

function integer(flag: string, raw: string, min: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new UsageError(`--${flag} must be an integer ≥ ${min}, got "${raw}".`);
  return Number(raw);
}

/** An ISO 8601 instant, or a duration from now: `90m`, `12h`, `30d`. */
export function parseExpiry(raw: string, now: Date = new Date()): string {
  const relative = /^(\d+)([mhd])$/.exec(raw);
  if (relative) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd'];
    return new Date(now.getTime() + Number(relative[1]) * unit).toISOString();
  }
  if (Number.isNaN(Date.parse(raw)) || !/^\d{4}-\d{2}-\d{2}T/.test(raw)) {
    throw new UsageError(
      `--expires takes an ISO 8601 instant (2030-01-31T00:00:00Z) or 30d / 12h / 90m, got "${raw}".`,
    );
  }
  return raw;
}

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliCommand | 'help' {
  let parsed: ReturnType<typeof parseArgsStrict>;
  try {
    parsed = parseArgsStrict(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length === 0) throw new UsageError('Missing <action>.');
  if (positionals.length > 1) throw new UsageError(`One action at a time; got "${positionals.join(' ')}".`);
  const action = positionals[0] as AdminAction;
  const spec = ACTION_FLAGS[action];
  if (!ADMIN_ACTIONS.includes(action) || !spec) throw new UsageError(`Unknown action "${positionals[0]}".`);

  const given = (Object.keys(ACTION_FLAGS_ALL) as Flag[]).filter((flag) => values[flag] !== undefined);
  for (const flag of given) {
    if (!spec.required.includes(flag) && !spec.optional.includes(flag)) {
      throw new UsageError(`${action} does not take --${flag}. ${action} ${spec.usage}`);
    }
  }
  for (const flag of spec.required) {
    if (values[flag] === undefined)
      throw new UsageError(`${action} needs --${flag}. ${action} ${spec.usage}`);
  }

  const event: Record<string, unknown> = { action, userId: values.user };
  const set = (field: string, value: unknown) => {
    if (value !== undefined) event[field] = value;
  };
  set(action === 'create-user' ? 'defaultProjectId' : 'projectId', values.project);
  set('name', values.name);
  set('keyId', values.key);
  set('reason', values.reason);
  if (values.expires !== undefined) event.expiresAt = parseExpiry(values.expires);
  if (values.grace !== undefined) event.graceSeconds = integer('grace', values.grace, 0);
  if (values.limit !== undefined) event.limit = integer('limit', values.limit, 1);
  set('nextToken', values['next-token']);

  if (values.stage !== undefined && values.endpoint !== undefined) {
    throw new UsageError('Use either --stage (deployed) or --endpoint (local), not both.');
  }
  let target: CliCommand['target'];
  if (values.stage !== undefined) {
    if (!(STAGE_NAMES as readonly string[]).includes(values.stage)) {
      throw new UsageError(`Unknown stage "${values.stage}"; use ${STAGE_NAMES.join('|')}.`);
    }
    target = { kind: 'stage', stage: values.stage as StageName };
  } else {
    const endpoint = values.endpoint ?? `http://127.0.0.1:${env.LAMBDA_PORT || DEFAULT_LAMBDA_PORT}`;
    if (!/^https?:\/\/[^\s/]+/.test(endpoint))
      throw new UsageError(`--endpoint must be a URL, got "${endpoint}".`);
    target = { kind: 'local', endpoint };
  }
  return { action, event, json: values.json ?? false, target };
}

const ACTION_FLAGS_ALL: Record<Flag, { type: 'string' }> = {
  user: { type: 'string' },
  name: { type: 'string' },
  project: { type: 'string' },
  expires: { type: 'string' },
  key: { type: 'string' },
  reason: { type: 'string' },
  grace: { type: 'string' },
  limit: { type: 'string' },
  'next-token': { type: 'string' },
};

function parseArgsStrict(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      ...ACTION_FLAGS_ALL,
      json: { type: 'boolean' },
      stage: { type: 'string' },
      endpoint: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Who runs the CLI, for keys-admin's audit line. */
export function actor(): string {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep $USER
  }
  return `${user}@${hostname()}`;
}

export class TargetError extends Error {
  override readonly name = 'TargetError';
}

async function deployedFunctionName(stage: StageName): Promise<string> {
  const stackName = stackNameFor(stage);
  const cloudFormation = new CloudFormationClient({});
  try {
    const answer = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    const output = answer.Stacks?.[0]?.Outputs?.find(
      (candidate) => candidate.OutputKey === STACK_OUTPUTS.keysAdminFunctionName,
    );
    if (!output?.OutputValue) {
      throw new TargetError(
        `Stack ${stackName} has no output ${STACK_OUTPUTS.keysAdminFunctionName}; redeploy it.`,
      );
    }
    return output.OutputValue;
  } catch (error) {
    if (error instanceof TargetError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new TargetError(`Cannot read stack ${stackName} from CloudFormation: ${message}`);
  } finally {
    cloudFormation.destroy();
  }
}

export interface InvokeResult {
  functionError?: string;
  payload: unknown;
}

async function invoke(command: CliCommand): Promise<InvokeResult> {
  let lambda: LambdaClient;
  let functionName: string;
  let where: string;
  if (command.target.kind === 'stage') {
    functionName = await deployedFunctionName(command.target.stage);
    lambda = new LambdaClient({ maxAttempts: 1 });
    where = `${functionName} (stage ${command.target.stage})`;
  } else {
    functionName = 'keys-admin';
    lambda = createLambdaClient({ endpoint: command.target.endpoint, requestTimeoutMs: 30_000 });
    where = `the local Invoke API at ${command.target.endpoint}`;
  }
  try {
    const result = await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'RequestResponse',
        Payload: JSON.stringify(command.event),
        ClientContext: Buffer.from(JSON.stringify({ custom: { actor: actor() } })).toString('base64'),
      }),
    );
    const text = result.Payload ? new TextDecoder().decode(result.Payload) : 'null';
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      payload = text;
    }
    return result.FunctionError ? { functionError: result.FunctionError, payload } : { payload };
  } catch (error) {
    const code = (error as { code?: string; cause?: { code?: string } }).code;
    const message = error instanceof Error ? error.message : String(error);
    if (command.target.kind === 'local' && (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message))) {
      throw new TargetError(
        `Cannot reach ${where}: is \`npm start\` running? (Or point --endpoint at another local Invoke API, or use --stage NAME.)`,
      );
    }
    throw new TargetError(`Invoking ${where} failed: ${message}`);
  } finally {
    lambda.destroy();
  }
}

// ---- output ------------------------------------------------------------------------------

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

const shown = (value: string | number | null | undefined) =>
  value === null || value === undefined ? '-' : String(value);

export function keysTable(keys: readonly KeyMetadata[]): string {
  if (keys.length === 0) return '(no keys)';
  return table(
    ['KEY_ID', 'NAME', 'STATUS', 'START', 'PROJECT', 'USAGE', 'LAST_USED', 'CREATED', 'EXPIRES'],
    keys.map((key) => [
      key.keyId,
      shown(key.name),
      key.status,
      key.start,
      key.projectId,
      String(key.usageCount),
      shown(key.lastUsedAt),
      key.createdAt,
      shown(key.expiresAt),
    ]),
  );
}

function userTable(user: UserView): string {
  return table(
    ['USER_ID', 'STATUS', 'DEFAULT_PROJECT', 'CREATED'],
    [[user.userId, user.status, shown(user.defaultProjectId), user.createdAt]],
  );
}

interface OkAnswer {
  ok: true;
  user?: UserView;
  apiKey?: string;
  key?: KeyMetadata;
  keys?: KeyMetadata[];
  nextToken?: string | null;
  retired?: KeyMetadata[];
}

export function render(action: AdminAction, answer: OkAnswer): string {
  const parts: string[] = [];
  if (answer.apiKey) parts.push('API key (shown only now; store it safely):', `  ${answer.apiKey}`, '');
  if (answer.user) parts.push(userTable(answer.user));
  if (answer.key) parts.push(keysTable([answer.key]));
  if (answer.keys) parts.push(keysTable(answer.keys));
  if (answer.retired) {
    parts.push('', answer.retired.length > 0 ? `Retired (${answer.retired.length}):` : 'Retired: none');
    if (answer.retired.length > 0) parts.push(keysTable(answer.retired));
  }
  if (action === 'list' && answer.nextToken) {
    parts.push('', `More keys: add --next-token ${answer.nextToken}`);
  }
  return parts.join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
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
  let result: InvokeResult;
  try {
    result = await invoke(command);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return EXIT_REFUSED;
  }
  if (result.functionError) {
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
  if (!command.json) console.log(render(command.action, answer));
  return EXIT_OK;
}

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
