/**
 * What every part of the domain needs from outside: a log sink and a clock. Powertools'
 * Logger satisfies `LogSink`; tests pass a recorder and a fixed clock.
 */
export interface LogSink {
  /** Optional: recorders in tests may leave it out. */
  debug?(message: string, attributes: Record<string, unknown>): void;
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

export type Clock = () => Date;

export const systemClock: Clock = () => new Date();
