/** A source of the current time; injected so decisions are reproducible in tests. */
export interface Clock {
  now(): number; // epoch milliseconds
}

/** Uniform [0, 1) random numbers; injected so decisions are reproducible in tests. */
export type Random = () => number;

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to. */
export function fixedClock(start: number | string): Clock & { set(t: number | string): void; advance(ms: number): void } {
  let t = typeof start === 'string' ? Date.parse(start) : start;
  return {
    now: () => t,
    set: (v) => {
      t = typeof v === 'string' ? Date.parse(v) : v;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

/** sfc32: small, fast, well-distributed seeded generator (not for secrets). */
export function seededRandom(seed: number): Random {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ Math.imul(seed, 0x85ebca6b);
  let c = 0xb7e15162;
  let d = 1;
  const next = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** UTC calendar day (YYYY-MM-DD) of an epoch-ms instant; daily liability is bucketed by it. */
export function utcDay(t: number): string {
  const day = Math.floor(t / 86_400_000);
  // Decisions ask for the same day over and over; formatting a date is not free.
  if (day !== lastDay) {
    lastDay = day;
    lastDayString = new Date(day * 86_400_000).toISOString().slice(0, 10);
  }
  return lastDayString;
}
let lastDay = NaN;
let lastDayString = '';

const DURATION = /^(\d+)\s*(m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses "30m", "12h", "14d", "2w" into milliseconds; undefined when malformed. */
export function parseDuration(s: string): number | undefined {
  const m = DURATION.exec(s.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}
