/**
 * Leaked-key notices (shared/adapters/notifications/alarm-topic.ts): published on the stage's
 * alarm topic with the key id, the user and where GitHub found the key — never the key — and
 * only logged where there is no topic (the local stack). SNS is mocked with aws-sdk-client-mock.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { leakNotifier } from '../../../shared/adapters/notifications/alarm-topic.js';
import { generateKey } from '../../../shared/domain/keys/format.js';
import type { LeakNotice } from '../../../shared/domain/leaks/ports.js';

const snsMock = mockClient(SNSClient);
afterEach(() => snsMock.reset());

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:keygate-prod-alarms';
const notice: LeakNotice = {
  keyId: 'key_3e9pV0sccqAGgMjlylU15D',
  userId: 'acme',
  url: 'https://github.com/octo/repo/blob/abc123/.env',
  source: 'content',
  type: 'keygate_api_key',
  revokedAt: '2026-11-30T08:00:00.000Z',
};

describe('leakNotifier', () => {
  it('publishes one notice on the alarm topic naming the key id, the user and the URL', async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const warnings: unknown[] = [];

    await leakNotifier({
      topicArn: TOPIC,
      logger: { warn: (...args) => warnings.push(args) },
      sns: new SNSClient({}),
    })(notice);

    const [call] = snsMock.commandCalls(PublishCommand);
    const input = call?.args[0].input;
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(1);
    expect(input?.TopicArn).toBe(TOPIC);
    expect(input?.Subject).toContain(notice.keyId);
    expect(input?.Subject?.length).toBeLessThanOrEqual(100);
    expect(input?.Message).toContain(notice.userId);
    expect(input?.Message).toContain(notice.url);
    expect(input?.MessageAttributes?.key_id?.StringValue).toBe(notice.keyId);
    expect(warnings).toEqual([]);
  });

  it('never carries a key: a notice is built from the notice fields alone', async () => {
    snsMock.on(PublishCommand).resolves({});
    const key = generateKey('live').key;

    await leakNotifier({ topicArn: TOPIC, logger: { warn: () => undefined }, sns: new SNSClient({}) })(
      notice,
    );

    const published = JSON.stringify(snsMock.commandCalls(PublishCommand).map((call) => call.args[0].input));
    expect(published).not.toMatch(/kg_(live|test)_[0-9A-Za-z]{49}/);
    expect(published).not.toContain(key);
  });

  it('only logs the notice when the stage has no alarm topic (the local stack)', async () => {
    const warnings: unknown[][] = [];

    await leakNotifier({ topicArn: undefined, logger: { warn: (...args) => warnings.push(args) } })(notice);

    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.[1]).toMatchObject({ keyId: notice.keyId, userId: notice.userId, url: notice.url });
  });

  it('lets a failed publish throw, so the caller can log it (the key stays revoked)', async () => {
    snsMock.on(PublishCommand).rejects(new Error('sns down'));

    await expect(
      leakNotifier({ topicArn: TOPIC, logger: { warn: () => undefined }, sns: new SNSClient({}) })(notice),
    ).rejects.toThrow('sns down');
  });
});
