/**
 * Who the caller says it is, for the audit line: the CLI sends `{"custom": {"actor": …}}`
 * as client context (the runtime passes the decoded JSON as is; the typings spell it
 * `Custom`). A claim, not an identity: CloudTrail records the real caller (SPEC §6, §7).
 */
import type { Context } from 'aws-lambda';

export function claimedActorOf(context: Context | undefined): string {
  const clientContext = context?.clientContext as { Custom?: unknown; custom?: unknown } | undefined;
  const custom = (clientContext?.custom ?? clientContext?.Custom) as { actor?: unknown } | undefined;
  if (typeof custom?.actor === 'string' && custom.actor.length <= 256) return custom.actor;
  return context?.identity?.cognitoIdentityId ?? 'unknown';
}
