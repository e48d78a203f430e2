/**
 * The local stack as a library: DynamoDB Local (or an existing DynamoDB), the tables from
 * the shared table module, the Lambda Invoke API (keys-admin, reference-brain) and the
 * HTTPS API Gateway emulation in front of the real handlers (authorizer, requests, secret-scanning). `npm start`, the end-to-end
 * tests, the benchmarks and the fault tests all start it through `startLocalStack`.
 */
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { environmentOf, FUNCTIONS, type FunctionName } from '../infra/functions.js';
import {
  DEFAULT_DYNAMODB_PORT,
  DEFAULT_LAMBDA_PORT,
  DEFAULT_PORT,
  LOCAL_INVOKABLE_FUNCTIONS,
} from '../infra/local-endpoints.js';
import type { StageName } from '../infra/stages.js';
import { STAGES } from '../infra/stages.js';
import { createLambdaClient } from '../shared/adapters/aws-clients.js';
import {
  type TableNames,
  tableById,
  tableNameOf,
  tableNamesFor,
} from '../shared/adapters/dynamodb/tables.js';
import { createApiGateway } from './api-gateway.js';
import { DEFAULT_CERT_DIR, ensureCertificate } from './cert.js';
import { createTables, localDynamoClient, type RunningDynamoDb, startDynamoDbLocal } from './dynamodb.js';
import {
  handlerModule,
  type LambdaHandler,
  LOCAL_ACCOUNT_ID,
  LOCAL_REGION,
  type LocalFunction,
  loadHandler,
} from './functions.js';
import { createInvokeServer } from './lambda-server.js';
import { closeServer, ensurePortFree, freePort, listen, PortInUseError } from './ports.js';

export { DEFAULT_DYNAMODB_PORT, DEFAULT_LAMBDA_PORT, DEFAULT_PORT, PortInUseError };
export const DEFAULT_TABLE_PREFIX = 'keygate-local';
export const DEMO_USER_ID = 'demo';
export const LOCAL_API_ID = 'keygatelcl';
/** The stage the local stack's functions report (their metrics' `stage` dimension). */
export const LOCAL_STAGE = 'local';

export type FunctionLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'CRITICAL' | 'SILENT';

export interface LocalStackOptions {
  /** HTTPS port of the API; 0 picks a free one. Default 8443. */
  port?: number;
  /** Port of the Lambda Invoke API; 0 picks a free one. Default 3001. */
  lambdaPort?: number;
  /** Port for DynamoDB Local; 0 picks a free one. Default 8000. Ignored with `dynamodbEndpoint`. */
  dynamodbPort?: number;
  /** Use this DynamoDB instead of starting DynamoDB Local. */
  dynamodbEndpoint?: string;
  /** Stage whose throttle and brain timeout apply; default 'dev'. */
  stage?: StageName;
  /** Prefix of the table names; default 'keygate-local'. */
  tablePrefix?: string;
  /** Where the self-signed certificate lives; default .local/certs. */
  certDir?: string;
  /** Create user `demo` (if missing) and a fresh demo key through keys-admin. Default false. */
  seedDemo?: boolean;
  /** The requests function's brain timeout (BRAIN_TIMEOUT_MS); default the stage's. */
  brainTimeoutMs?: number;
  /** Stage throttle override; `false` disables throttling. Default the stage's rate/burst. */
  throttle?: false | { rateLimit: number; burstLimit: number };
  /** Receives one line per request and runtime notes; default: silent. */
  log?: (line: string) => void;
  /**
   * Replace a function's handler with another (a stub), as `sam local` lets one point a
   * function at other code. The stand-in runs in the same emulation: event, context,
   * timeout, answer validation. Used by tests and the bench (bench/fixtures).
   */
  handlerOverrides?: Partial<Record<FunctionName, LambdaHandler>>;
  /** Interface the two servers bind to; default 127.0.0.1 (loopback only). */
  host?: string;
  /** API Gateway's integration timeout; default 29 s. */
  integrationTimeoutMs?: number;
  /** Per-function timeout overrides of the local Lambda runtime. */
  functionTimeoutsMs?: Partial<Record<FunctionName, number>>;
  /** Powertools log level of the functions (POWERTOOLS_LOG_LEVEL); default: the environment's. */
  functionLogLevel?: FunctionLogLevel;
  /**
   * GitHub's secret-scanning key document (`{"public_keys": [...]}` JSON) the secret-scanning
   * function checks signatures against; default: SECRET_SCANNING_PUBLIC_KEYS of this process.
   */
  secretScanningPublicKeys?: string;
}

export interface LocalStack {
  apiUrl: string;
  lambdaUrl: string;
  dynamodbEndpoint: string;
  tableNames: TableNames;
  /** The self-signed certificate clients should trust (it is its own CA). */
  caCertPem: string;
  /** Path of that certificate (for `curl --cacert`). */
  caCertPath: string;
  stage: StageName;
  demo?: { userId: string; apiKey: string; keyId: string };
  /** Present when this stack started DynamoDB Local itself. */
  dynamo?: {
    stop(): Promise<void>;
    /** Same port, tables recreated (empty). */
    restart(): Promise<void>;
    /** PID of the DynamoDB Local (Java) process, while it runs. */
    readonly pid: number | undefined;
  };
  stop(): Promise<void>;
}

interface AdminAnswer {
  ok: boolean;
  error?: { code: string; message: string };
  apiKey?: string;
  key?: { keyId: string };
}

async function seedDemo(lambdaUrl: string): Promise<{ userId: string; apiKey: string; keyId: string }> {
  const lambda = createLambdaClient({ endpoint: lambdaUrl, requestTimeoutMs: 10_000 });
  const invoke = async (event: Record<string, unknown>): Promise<AdminAnswer> => {
    const result = await lambda.send(
      new InvokeCommand({
        FunctionName: 'keys-admin',
        Payload: JSON.stringify(event),
        ClientContext: Buffer.from(JSON.stringify({ custom: { actor: 'local-stack-seed' } })).toString(
          'base64',
        ),
      }),
    );
    const text = new TextDecoder().decode(result.Payload);
    if (result.FunctionError) throw new Error(`keys-admin failed while seeding the demo user: ${text}`);
    return JSON.parse(text) as AdminAnswer;
  };
  try {
    const user = await invoke({ action: 'create-user', userId: DEMO_USER_ID });
    if (!user.ok && user.error?.code !== 'user_exists') {
      throw new Error(`could not create the demo user: ${user.error?.message ?? 'unknown error'}`);
    }
    const created = await invoke({ action: 'create', userId: DEMO_USER_ID, name: 'demo' });
    if (!created.ok || !created.apiKey || !created.key) {
      throw new Error(`could not create the demo key: ${created.error?.message ?? 'unknown error'}`);
    }
    return { userId: DEMO_USER_ID, apiKey: created.apiKey, keyId: created.key.keyId };
  } finally {
    lambda.destroy();
  }
}

export interface LocalEnvironmentInputs {
  /** The stage the local stack imitates: its default budget hold applies (its name does not). */
  stage: StageName;
  tableNames: TableNames;
  region: string;
  dynamodbEndpoint: string;
  lambdaUrl: string;
  brainTimeoutMs: number;
  /** The local brain's own time limit: its local timeout. */
  brainMaxDurationMs: number;
  functionLogLevel?: string | undefined;
  /** GitHub's key document for the secret-scanning function (nothing else gets it). */
  secretScanningPublicKeys?: string | undefined;
}

/**
 * A function's environment on the local stack: the description the stack deploys too
 * (infra/functions.ts: tables, key environment, brain, budget hold), plus the local endpoints.
 * No ALARM_TOPIC_ARN locally: the secret-scanning function only logs its notification.
 */
export function localEnvironmentOf(
  name: FunctionName,
  inputs: LocalEnvironmentInputs,
): Record<string, string | undefined> {
  return {
    ...environmentOf(FUNCTIONS[name], {
      stage: LOCAL_STAGE,
      tableName: (table) => tableNameOf(inputs.tableNames, tableById(table)),
      // The local stack always issues and accepts test keys, whatever stage it imitates (SPEC §5).
      keyEnvironment: 'test',
      // The imitated stage's default hold (0.50 on dev: the reference brain's ceiling, SPEC §5b).
      budgetDefaultHoldUsd: STAGES[inputs.stage].budgetDefaultHoldUsd,
      brain: {
        functionName: 'reference-brain',
        timeoutMs: inputs.brainTimeoutMs,
        maxDurationMs: inputs.brainMaxDurationMs,
      },
    }),
    AWS_REGION: inputs.region,
    DYNAMODB_ENDPOINT: inputs.dynamodbEndpoint,
    LAMBDA_ENDPOINT: inputs.lambdaUrl,
    POWERTOOLS_LOG_LEVEL: inputs.functionLogLevel,
    ...(name === 'secret-scanning' ? { SECRET_SCANNING_PUBLIC_KEYS: inputs.secretScanningPublicKeys } : {}),
  };
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const stage: StageName = options.stage ?? 'dev';
  const stageConfig = STAGES[stage];
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);
  const tableNames = tableNamesFor(options.tablePrefix ?? DEFAULT_TABLE_PREFIX);
  const region = process.env.AWS_REGION ?? LOCAL_REGION;
  const brainTimeoutMs = options.brainTimeoutMs ?? stageConfig.brainTimeoutMs;

  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
  };

  try {
    // Taken ports fail fast with one clear line, before Java is started.
    const apiPort = options.port ?? DEFAULT_PORT;
    const lambdaPortWanted = options.lambdaPort ?? DEFAULT_LAMBDA_PORT;
    if (apiPort !== 0) await ensurePortFree(apiPort, 'local HTTPS API', 'PORT');
    if (lambdaPortWanted !== 0) await ensurePortFree(lambdaPortWanted, 'Lambda Invoke API', 'LAMBDA_PORT');
    const certificate = await ensureCertificate(options.certDir ?? DEFAULT_CERT_DIR);

    // DynamoDB: an existing one, or DynamoDB Local on its port.
    let dynamo: RunningDynamoDb | undefined;
    let dynamodbEndpoint: string;
    if (options.dynamodbEndpoint) {
      dynamodbEndpoint = options.dynamodbEndpoint;
    } else {
      const requested = options.dynamodbPort ?? DEFAULT_DYNAMODB_PORT;
      const port = requested === 0 ? await freePort() : requested;
      await ensurePortFree(port, 'DynamoDB Local', 'DYNAMODB_PORT');
      dynamo = await startDynamoDbLocal({ port });
      const started = dynamo;
      cleanups.push(() => started.stop());
      dynamodbEndpoint = dynamo.endpoint;
    }
    const createStackTables = async () => {
      const client = localDynamoClient(dynamodbEndpoint);
      try {
        await createTables(client, tableNames);
      } finally {
        client.destroy();
      }
    };
    await createStackTables();

    // The Invoke API first: the requests function is configured with its URL.
    const functions = new Map<string, LocalFunction>();
    const invokeServer = createInvokeServer({ functions, region, accountId: LOCAL_ACCOUNT_ID, log });
    const lambdaPort = await listen(invokeServer, lambdaPortWanted, host, 'Lambda Invoke API', 'LAMBDA_PORT');
    cleanups.push(() => closeServer(invokeServer));
    const lambdaUrl = `http://127.0.0.1:${lambdaPort}`;

    // No CloudWatch or X-Ray here: EMF metrics and tracing stay off unless asked for. Set for the
    // whole process, because Powertools also reads them after init (each singleMetric()).
    process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
    process.env.POWERTOOLS_TRACE_ENABLED ??= 'false';
    // Each function gets its own environment, from the description the stack deploys too,
    // plus the local endpoints (localEnvironmentOf).
    const secretScanningPublicKeys =
      options.secretScanningPublicKeys ?? process.env.SECRET_SCANNING_PUBLIC_KEYS;
    const brainMaxDurationMs =
      options.functionTimeoutsMs?.['reference-brain'] ??
      FUNCTIONS['reference-brain'].timeoutMs({ brainTimeoutMs });
    const envOf = (name: FunctionName) =>
      localEnvironmentOf(name, {
        stage,
        tableNames,
        region,
        dynamodbEndpoint,
        lambdaUrl,
        brainTimeoutMs,
        brainMaxDurationMs,
        functionLogLevel: options.functionLogLevel ?? process.env.POWERTOOLS_LOG_LEVEL,
        secretScanningPublicKeys,
      });
    const load = async (name: FunctionName): Promise<LocalFunction> => ({
      name,
      timeoutMs: options.functionTimeoutsMs?.[name] ?? FUNCTIONS[name].timeoutMs({ brainTimeoutMs }),
      memoryMb: FUNCTIONS[name].memoryMb,
      handler: options.handlerOverrides?.[name] ?? (await loadHandler(handlerModule(name), envOf(name))),
    });
    const loaded: Record<FunctionName, LocalFunction> = {
      authorizer: await load('authorizer'),
      requests: await load('requests'),
      'keys-admin': await load('keys-admin'),
      'reference-brain': await load('reference-brain'),
      'secret-scanning': await load('secret-scanning'),
    };
    for (const name of LOCAL_INVOKABLE_FUNCTIONS) functions.set(name, loaded[name]);

    const apiServer = createApiGateway({
      tls: { key: certificate.key, cert: certificate.cert },
      api: {
        apiId: LOCAL_API_ID,
        stage,
        accountId: LOCAL_ACCOUNT_ID,
        region,
        deploymentId: 'local',
        domainName: 'localhost',
      },
      functions: {
        authorizer: loaded.authorizer,
        requests: loaded.requests,
        'secret-scanning': loaded['secret-scanning'],
      },
      throttle: options.throttle === undefined ? stageConfig.throttle : options.throttle,
      ...(options.integrationTimeoutMs !== undefined
        ? { integrationTimeoutMs: options.integrationTimeoutMs }
        : {}),
      log,
    });
    const port = await listen(apiServer, apiPort, host, 'local HTTPS API', 'PORT');
    cleanups.push(() => closeServer(apiServer));

    const demo = options.seedDemo ? await seedDemo(lambdaUrl) : undefined;

    let stopping: Promise<void> | undefined;
    const stack: LocalStack = {
      apiUrl: `https://localhost:${port}`,
      lambdaUrl,
      dynamodbEndpoint,
      tableNames,
      caCertPem: certificate.cert,
      caCertPath: certificate.certPath,
      stage,
      ...(demo ? { demo } : {}),
      stop: () => {
        stopping ??= cleanup();
        return stopping;
      },
    };
    if (dynamo) {
      let current: RunningDynamoDb = dynamo;
      const dynamoPort = dynamo.port;
      // The cleanup list stops whichever DynamoDB Local is current.
      cleanups[0] = () => current.stop();
      stack.dynamo = {
        stop: () => current.stop(),
        restart: async () => {
          await current.stop();
          current = await startDynamoDbLocal({ port: dynamoPort });
          await createStackTables();
        },
        get pid() {
          return current.process.exitCode === null && current.process.signalCode === null
            ? current.process.pid
            : undefined;
        },
      };
    }
    return stack;
  } catch (error) {
    await cleanup();
    throw error;
  }
}
