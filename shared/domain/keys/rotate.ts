/**
 * Rotation (SPEC §6): issue the new key first, then retire the old ones, so a failure at
 * any step leaves the user at least one working key and a repeat completes the job
 * (docs/decisions/0006-key-store-at-scale.md walks through every failure point). One named
 * key (rotate-named.ts) or all of a user's keys (rotate-all.ts); what follows a write of
 * unknown outcome is in rotation-recovery.ts.
 */

import { USER_REFUSALS } from './results.js';
import { createRotateAll } from './rotate-all.js';
import { createNamedRotation } from './rotate-named.js';
import { createRotationRecovery } from './rotation-recovery.js';
import type { RotateInput, RotateResult, RotationOptions } from './rotation-rules.js';

export {
  inheritedFrom,
  isRetirable,
  ROTATION_CLAIM_MS,
  type RotateInput,
  type RotateResult,
  RotationIncompleteError,
  type RotationOptions,
} from './rotation-rules.js';

export function createRotation(options: RotationOptions) {
  const { users, clock } = options;
  const recovery = createRotationRecovery(options);
  const rotateNamed = createNamedRotation(options, recovery);
  const rotateAll = createRotateAll(options, recovery);

  return async function rotate(input: RotateInput): Promise<RotateResult> {
    const user = await users.find(input.userId);
    if (!user) return USER_REFUSALS.missing();
    if (user.status !== 'active') return USER_REFUSALS.suspended();
    const graceSeconds = input.graceSeconds ?? 0;
    const graceEnd = graceSeconds > 0 ? new Date(clock().getTime() + graceSeconds * 1000) : undefined;
    return input.keyId
      ? rotateNamed(user, { ...input, keyId: input.keyId }, graceEnd)
      : rotateAll(user, input, graceEnd);
  };
}
