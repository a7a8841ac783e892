import { counterKeys, type CounterView } from '../core/decide.js';
import { utcDay } from '../core/runtime.js';
import type { CatalogSnapshot } from '../core/snapshot.js';
import type { DecisionsPort } from './port.js';

/**
 * The guardrail counters decisions read: a bounded-staleness cache of the shared counters.
 * The commit step is what enforces a limit; this view only keeps decisions from proposing
 * offers that are already exhausted.
 */
export class CounterCache {
  private readonly counters = new Map<string, number>();
  private at = -Infinity;
  private day = '';
  private snap: CatalogSnapshot | null = null;
  private readonly view: CounterView = { get: (k) => this.counters.get(k) ?? 0 };
  // One full re-read at a time, shared by the requests that find the view too old.
  private loading: { snap: CatalogSnapshot; day: string; promise: Promise<void> } | null = null;

  constructor(
    private readonly port: Pick<DecisionsPort, 'readCounters'>,
    private readonly refreshMs: number,
  ) {}

  /** The view for a decision on `s` at `now`, re-read when older than the refresh bound or another day. */
  async viewFor(s: CatalogSnapshot, now: number): Promise<CounterView> {
    const day = utcDay(now);
    if (s === this.snap && performance.now() - this.at < this.refreshMs && this.day === day) return this.view;
    if (!this.loading || this.loading.snap !== s || this.loading.day !== day) {
      const mine = { snap: s, day, promise: null as unknown as Promise<void> };
      mine.promise = this.refresh(s, now).finally(() => {
        if (this.loading === mine) this.loading = null;
      });
      this.loading = mine;
    }
    await this.loading.promise;
    return this.view;
  }

  /** Re-reads every guarded counter of `s` (or only those of offer `only`). */
  async refresh(s: CatalogSnapshot, now: number, only?: string): Promise<void> {
    const day = utcDay(now);
    const keys = guardedKeys(s, day, only);
    // Stamped with when the read began: the view is as old as the read, not as its answer.
    const started = performance.now();
    const fresh = await this.port.readCounters(keys);
    if (only === undefined) this.counters.clear();
    for (const k of keys) this.counters.set(k, fresh.get(k) ?? 0);
    if (only === undefined) {
      this.snap = s;
      this.at = started;
      this.day = day;
    }
  }

  /** Takes the totals a commit reported (only for counters the view already holds). */
  update(totals: Record<string, number>): void {
    for (const [k, v] of Object.entries(totals)) if (this.counters.has(k)) this.counters.set(k, v);
  }
}

/** The counter keys the live offers of `s` are limited by. */
function guardedKeys(s: CatalogSnapshot, day: string, only?: string): string[] {
  const keys: string[] = [];
  for (const c of s.offers.values()) {
    const o = c.offer;
    if (only !== undefined && o.id !== only) continue;
    if (o.status !== 'live') continue;
    if (o.caps.global !== undefined) keys.push(counterKeys.issued(o.id));
    if (o.budget.total !== undefined) keys.push(counterKeys.spent(o.id));
    if (o.budget.dailyLiability !== undefined) keys.push(counterKeys.daily(o.id, day));
  }
  return keys;
}
