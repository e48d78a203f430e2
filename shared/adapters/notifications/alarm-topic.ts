/**
 * Leaked-key notices on the stage's alarm topic (SNS), where the operators' alarms already
 * go. Without a topic (the local stack) the notice is logged instead. A notice names the key
 * id, the user and where GitHub found the key — never the key.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { LeakNotice } from '../../domain/leaks/ports.js';
import type { LogSink } from '../../domain/ports.js';

export type NotifyLeak = (notice: LeakNotice) => Promise<void>;

export function leakNotifier(options: {
  topicArn: string | undefined;
  logger: Pick<LogSink, 'warn'>;
  sns?: SNSClient;
}): NotifyLeak {
  const { topicArn, logger } = options;
  if (!topicArn) {
    return async (notice) => {
      logger.warn('leaked key notice (no alarm topic configured)', { ...notice });
    };
  }
  const sns = options.sns ?? new SNSClient({ region: process.env.AWS_REGION });
  return async (notice) => {
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        // SNS subjects: ASCII, ≤ 100 characters, no line breaks.
        Subject: `keygate: leaked API key ${notice.keyId} revoked`.slice(0, 100),
        Message: [
          `GitHub secret scanning reported API key ${notice.keyId} of user ${notice.userId} in a public place; keygate revoked it at ${notice.revokedAt} (reason: leaked).`,
          `Where GitHub found it: ${notice.url} (source: ${notice.source}, type: ${notice.type}).`,
          'Issue the owner a new key (npm run keys -- rotate, or create) and check the key’s recent use.',
        ].join('\n'),
        MessageAttributes: {
          key_id: { DataType: 'String', StringValue: notice.keyId },
          user_id: { DataType: 'String', StringValue: notice.userId },
        },
      }),
    );
  };
}
