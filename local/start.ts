/**
 * `npm start`: the local stack on fixed ports (PORT, LAMBDA_PORT, DYNAMODB_PORT or
 * DYNAMODB_ENDPOINT), a fresh demo key and a ready-to-paste curl on stdout, one log line
 * per request, and a clean stop (no Java left) on Ctrl-C / SIGTERM.
 */
import { relative } from 'node:path';
import { SECRET_SCANNING_PATH } from '../infra/routes.js';
import { JavaMissingError } from './dynamodb.js';
import {
  DEFAULT_DYNAMODB_PORT,
  DEFAULT_LAMBDA_PORT,
  DEFAULT_PORT,
  type LocalStack,
  PortInUseError,
  startLocalStack,
} from './stack.js';

// The SDK warns that Node.js 20 support ends in 2027; Lambda runs Node.js 24, so for this
// local tool the warning is noise. An explicit setting in the environment still wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

class UsageError extends Error {}

function portFrom(variable: string, fallback: number): number {
  const raw = process.env[variable];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new UsageError(`${variable}=${raw} is not a TCP port (1-65535).`);
  }
  return port;
}

/** Quotes a word for a POSIX shell only when it needs it. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

export const DEMO_REQUEST_BODY = {
  provider: 'openai',
  model: 'gpt-4o-mini',
  operation_type: 'chat',
  messages: [{ role: 'user', content: 'Say hello to keygate' }],
};

export function demoCurl(stack: LocalStack, apiKey: string): string {
  const shown = relative(process.cwd(), stack.caCertPath);
  const certPath = shown.startsWith('..') ? stack.caCertPath : shown;
  return [
    'curl',
    '--cacert',
    shellWord(certPath),
    '-H',
    shellWord(`Authorization: Bearer ${apiKey}`),
    '-H',
    shellWord('Content-Type: application/json'),
    '-d',
    shellWord(JSON.stringify(DEMO_REQUEST_BODY)),
    `${stack.apiUrl}/api/v1/requests`,
  ].join(' ');
}

function banner(stack: LocalStack, usingExistingDynamo: boolean): string {
  const demo = stack.demo;
  const lines = [
    '',
    `keygate local stack is up (stage ${stack.stage})`,
    `  API (HTTPS only)   ${stack.apiUrl}/api/v1/requests`,
    `  OpenAI-compatible  ${stack.apiUrl}/v1  (base URL for OpenAI SDKs: POST /v1/chat/completions, POST /v1/responses, GET /v1/models)`,
    `  Anthropic-style    ${stack.apiUrl}  (base URL for Anthropic SDKs, ANTHROPIC_BASE_URL: POST /v1/messages)`,
    `  Secret scanning    ${stack.apiUrl}${SECRET_SCANNING_PATH}  (GitHub's signed reports; ${
      process.env.SECRET_SCANNING_PUBLIC_KEYS
        ? 'keys from SECRET_SCANNING_PUBLIC_KEYS'
        : 'no SECRET_SCANNING_PUBLIC_KEYS: npx tsx scripts/sign-secret-scanning-report.ts prints one'
    })`,
    `  Lambda Invoke API  ${stack.lambdaUrl}  (functions: keys-admin, reference-brain)`,
    `  DynamoDB           ${stack.dynamodbEndpoint}${usingExistingDynamo ? '' : '  (DynamoDB Local, in memory)'}`,
    '',
  ];
  if (demo) {
    lines.push(
      `Demo user "${demo.userId}", key ${demo.keyId}. The key is shown once:`,
      `  ${demo.apiKey}`,
      '',
      'Call the API (paste this):',
      '',
      demoCurl(stack, demo.apiKey),
      '',
    );
  }
  lines.push(
    `TLS: the certificate is self-signed (${stack.caCertPath}); trust it with`,
    `  curl --cacert ${shellWord(relative(process.cwd(), stack.caCertPath) || stack.caCertPath)} …, or skip verification with curl -k.`,
    `Keys: npm run keys -- list --user ${demo?.userId ?? 'demo'}   (npm run keys -- --help)`,
    'Ctrl-C stops everything.',
    '',
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  let stack: LocalStack | undefined;
  let starting: Promise<LocalStack> | undefined;
  let stopping: Promise<void> | undefined;

  /** Stops everything this process started (Java included), then exits; runs once. */
  const stop = (reason: string, code: number): Promise<void> => {
    stopping ??= (async () => {
      console.log(`${reason}: stopping the local stack…`);
      try {
        stack ??= await starting?.catch(() => undefined);
        await stack?.stop();
      } finally {
        process.exit(code);
      }
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // A second Ctrl-C while stopping: give up waiting.
    if (stopping) process.exit(130);
    void stop(signal, 0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // The terminal or npm that started us is gone (EPIPE on a log line): stop cleanly, do not crash
  // and leave DynamoDB Local's Java behind.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') void stop('output closed', 0);
    });
  }

  const dynamodbEndpoint = process.env.DYNAMODB_ENDPOINT || undefined;
  starting = startLocalStack({
    port: portFrom('PORT', DEFAULT_PORT),
    lambdaPort: portFrom('LAMBDA_PORT', DEFAULT_LAMBDA_PORT),
    dynamodbPort: portFrom('DYNAMODB_PORT', DEFAULT_DYNAMODB_PORT),
    ...(dynamodbEndpoint ? { dynamodbEndpoint } : {}),
    seedDemo: true,
    // The functions' own JSON logs only from WARN up; POWERTOOLS_LOG_LEVEL=INFO shows them all.
    functionLogLevel: process.env.POWERTOOLS_LOG_LEVEL ? undefined : 'WARN',
    log: (line) => console.log(line),
  });
  stack = await starting;
  if (stopping) return;
  console.log(banner(stack, dynamodbEndpoint !== undefined));
}

main().catch((error: unknown) => {
  if (error instanceof PortInUseError || error instanceof JavaMissingError || error instanceof UsageError) {
    console.error(error.message);
  } else {
    console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  process.exit(1);
});
