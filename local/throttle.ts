/**
 * API Gateway's stage throttling as a token bucket: `burstLimit` tokens of capacity,
 * refilled at `rateLimit` tokens per second; a request without a token gets 429.
 */
export interface ThrottleSettings {
  rateLimit: number;
  burstLimit: number;
}

export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly settings: ThrottleSettings,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.tokens = settings.burstLimit;
    this.updatedAt = clock();
  }

  /** Takes one token if there is one. */
  tryTake(): boolean {
    const now = this.clock();
    const refill = ((now - this.updatedAt) / 1000) * this.settings.rateLimit;
    this.tokens = Math.min(this.settings.burstLimit, this.tokens + refill);
    this.updatedAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
