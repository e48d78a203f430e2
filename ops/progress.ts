/**
 * Progress of a long action on one rewritten line of stderr — only when stderr is a terminal.
 * Each keys-admin call runs as a `step` under a line (`suspend-user u1: 4000 keys updated (call
 * 2)…`); once a call has run `delayMs` (or at once, for a step known to be long) the line
 * shows and the call's elapsed seconds tick after it (`rotate u1: waiting for keys-admin… 12 s`).
 * `clear` removes the line before the final output. When stderr is not a terminal (a pipe, a
 * file, CI) nothing is written at all and no timer runs. The stream, the clock and the timer
 * are injectable, so both modes are unit-tested without a terminal.
 */

/** Where progress goes: a terminal when `isTTY` is true (process.stderr by default). */
export interface ProgressStream {
  readonly isTTY?: boolean;
  /** The terminal's width: longer lines are cut, so `\r` can rewrite them. */
  readonly columns?: number;
  write(text: string): unknown;
}

/** Calls `tick` every `everyMs` until the returned stop function is called. */
export type Ticker = (tick: () => void, everyMs: number) => () => void;

export interface ProgressOptions {
  stream?: ProgressStream;
  /** Epoch milliseconds. */
  now?: () => number;
  ticker?: Ticker;
  /** How long a call runs before its line shows (unless the step shows it at once). */
  delayMs?: number;
  /** How often the elapsed seconds are redrawn. */
  tickMs?: number;
}

export interface Progress {
  /** True when progress is drawn (stderr is a terminal). */
  readonly shown: boolean;
  /**
   * Runs one call under `line`: drawn at once with `immediately`, else once the call has run
   * `delayMs`; while it runs, its elapsed seconds follow the line.
   */
  step<T>(line: string, call: () => Promise<T>, options?: { immediately?: boolean }): Promise<T>;
  /** Removes the line (if one is drawn), so the final output starts on a clean line. */
  clear(): void;
}

/** Back to the line's start, then erase the whole line. */
export const REWRITE_LINE = '\r\u001b[2K';

export const DEFAULT_DELAY_MS = 1000;
const DEFAULT_TICK_MS = 250;

const intervalTicker: Ticker = (tick, everyMs) => {
  const timer = setInterval(tick, everyMs);
  // Never the reason the CLI stays alive.
  timer.unref();
  return () => clearInterval(timer);
};

export function createProgress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const shown = stream.isTTY === true;
  const now = options.now ?? (() => Date.now());
  const ticker = options.ticker ?? intervalTicker;
  const delayMs = options.delayMs ?? DEFAULT_DELAY_MS;
  const tickMs = options.tickMs ?? DEFAULT_TICK_MS;
  let drawn = false;

  const cut = (text: string) =>
    stream.columns && text.length >= stream.columns ? `${text.slice(0, stream.columns - 2)}…` : text;
  const draw = (text: string) => {
    stream.write(`${REWRITE_LINE}${cut(text)}`);
    drawn = true;
  };

  return {
    shown,
    async step(line, call, stepOptions = {}) {
      if (!shown) return call();
      const started = now();
      let seconds = -1;
      if (stepOptions.immediately) draw(line);
      const stop = ticker(() => {
        const elapsed = now() - started;
        const whole = Math.floor(elapsed / 1000);
        if (elapsed < delayMs || whole === seconds) return;
        seconds = whole;
        draw(`${line} ${whole} s`);
      }, tickMs);
      try {
        return await call();
      } finally {
        stop();
      }
    },
    clear() {
      if (!drawn) return;
      stream.write(REWRITE_LINE);
      drawn = false;
    },
  };
}
