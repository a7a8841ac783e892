import { createHash } from 'node:crypto';

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `fn` for `iterations` per round, `rounds` times; returns ops/s of each round. */
export async function measure(fn: (i: number) => unknown, iterations: number, rounds: number): Promise<number[]> {
  const out: number[] = [];
  let k = 0;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    for (let i = 0; i < iterations; i++) {
      const v = fn(k++);
      if (v instanceof Promise) await v;
    }
    out.push(iterations / ((performance.now() - t) / 1000));
  }
  return out;
}

const block = Buffer.alloc(1024, 7);
/** A fixed reference workload (SHA-256 of 1 KiB) measured in the same run, so ratios travel across machines. */
export function referenceWorkload(): void {
  createHash('sha256').update(block).digest();
}

export const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
