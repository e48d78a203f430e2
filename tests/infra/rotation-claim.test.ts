/**
 * A named rotation's claim must outlive the keys-admin invocation that holds it, or a
 * second rotation could take over a claim that is still in use (docs/decisions/0006).
 */
import { describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../infra/functions.js';
import { STAGES } from '../../infra/stages.js';
import { ROTATION_CLAIM_MS } from '../../shared/domain/keys/rotate.js';
import { STAMPING_STOP_MARGIN_MS } from '../../shared/domain/keys/suspension.js';

describe('keys-admin timeout and the key domain’s time limits', () => {
  it.each(Object.keys(STAGES))(
    '%s: a rotation claim lasts longer than any keys-admin invocation',
    (stage) => {
      const config = STAGES[stage as keyof typeof STAGES];
      const timeoutMs = FUNCTIONS['keys-admin'].timeoutMs(config);
      expect(ROTATION_CLAIM_MS).toBeGreaterThan(timeoutMs * 2);
    },
  );

  it.each(Object.keys(STAGES))(
    '%s: suspension stops starting pages while there is still time to answer',
    (stage) => {
      const config = STAGES[stage as keyof typeof STAGES];
      expect(STAMPING_STOP_MARGIN_MS).toBeLessThan(FUNCTIONS['keys-admin'].timeoutMs(config) / 2);
    },
  );
});
