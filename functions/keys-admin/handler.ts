/** keys-admin: invoked by ops from the console, the CLI or `aws lambda invoke`. */
import type { Context } from 'aws-lambda';
import { createKeysAdmin } from '../../shared/domain/admin/keys-admin.js';
import { createDocumentClient } from '../../shared/adapters/aws-clients.js';
import { loadConfig, tablesConfigSchema } from '../../shared/adapters/config.js';
import { createLogger } from '../../shared/adapters/observability.js';
import { createTracer } from '../../shared/adapters/tracing.js';
import { createKeyServiceFor } from '../../shared/wiring.js';

const config = loadConfig(tablesConfigSchema);
const logger = createLogger('keys-admin');
const tracer = createTracer('keys-admin');
const client = createDocumentClient({ endpoint: config.DYNAMODB_ENDPOINT, tracer });
const keysAdmin = createKeysAdmin({
  keys: createKeyServiceFor(client, { apiKeys: config.API_KEYS_TABLE, users: config.USERS_TABLE }, logger),
  logger,
});

/**
 * Who invoked us, where Lambda tells: the CLI sends `{"custom": {"actor": …}}` as client
 * context (the runtime passes the decoded JSON as is; the typings spell it `Custom`).
 */
function actorOf(context: Context | undefined): string {
  const clientContext = context?.clientContext as { Custom?: unknown; custom?: unknown } | undefined;
  const custom = (clientContext?.custom ?? clientContext?.Custom) as { actor?: unknown } | undefined;
  if (typeof custom?.actor === 'string' && custom.actor.length <= 256) return custom.actor;
  return context?.identity?.cognitoIdentityId ?? 'unknown';
}

export const handler = async (event: unknown, context?: Context) => {
  if (context) logger.addContext(context);
  return keysAdmin(event, actorOf(context));
};
