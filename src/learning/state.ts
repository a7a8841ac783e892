import type { PolicyState, PolicyStates } from '../core/policy.js';
import type { LearningPort } from './port.js';

/** The part of the learning port the cached states need. */
export type PolicyStatePort = Pick<LearningPort, 'readPolicyStateVersions' | 'readPolicyState' | 'writePolicyState'>;

/**
 * The policy states decisions read: the store's `policy_state` table, cached in memory with a
 * bounded staleness like the catalog snapshot. Deciding asks once per decision and gets a map
 * (no statement per decision); past the bound, requests wait for one shared re-read, so a state
 * one process writes reaches every process within `refreshMs`.
 */
export class PolicyStateSource {
  private states = new Map<string, PolicyState>();
  private readonly view: PolicyStates = { get: (id) => this.states.get(id) };
  private at = -Infinity;
  // Bumped by invalidate(): a read begun before a write cannot vouch for it.
  private epoch = 0;
  private loading: { epoch: number; promise: Promise<PolicyStates> } | null = null;
  private loadedOnce = false;
  private mustWait = false;

  constructor(
    private readonly port: PolicyStatePort,
    private readonly refreshMs: number,
  ) {}

  /** The current states, at most `refreshMs` older than the store's. */
  current(): Promise<PolicyStates> | PolicyStates {
    if (performance.now() - this.at < this.refreshMs) return this.view;
    if (this.loading && this.loading.epoch === this.epoch) return this.stale() ? this.view : this.loading.promise;
    const p = this.reload();
    // Past the bound but once loaded (and not invalidated by a write here): decide on the
    // states held while the re-read runs — a learner's state is large, and parsing it must not
    // stall every decision waiting behind it. A state written elsewhere then reaches this process
    // within the bound plus one read. With a bound of 0 (tests, the simulator) every read is waited for.
    return this.stale() ? this.view : p;
  }

  /** Stores `state` as the campaign's next version, seen by this process's next decision; returns the version. */
  async write(campaignId: string, state: unknown, at: number): Promise<number> {
    const version = await this.port.writePolicyState(campaignId, state, at);
    this.invalidate();
    return version;
  }

  /** Forgets what the last read vouched for (this process wrote a state). */
  invalidate(): void {
    this.epoch++;
    this.at = -Infinity;
    this.mustWait = true;
  }

  /** Whether a decision may go on with the states held (loaded once, not invalidated, a bound above 0). */
  private stale(): boolean {
    return this.refreshMs > 0 && this.loadedOnce && !this.mustWait;
  }

  private reload(): Promise<PolicyStates> {
    const mine = { epoch: this.epoch, promise: null as unknown as Promise<PolicyStates> };
    // Stamped with when the read began: the view is as old as the read, not as its answer.
    const started = performance.now();
    mine.promise = (async () => {
      try {
        // Versions first: a state (a learner's models, large) is read only when its version moved.
        const versions = await this.port.readPolicyStateVersions();
        const moved = versions.filter((v) => (this.states.get(v.campaignId)?.version ?? 0) < v.version);
        const rows = await Promise.all(moved.map((v) => this.port.readPolicyState(v.campaignId)));
        const next = new Map(this.states);
        for (const r of rows) {
          if (!r) continue;
          // Versions only grow: an older read finishing last changes nothing, and an unchanged
          // version keeps its object (a learner may cache what it derived from it).
          const prev = next.get(r.campaignId);
          if (!prev || prev.version < r.version) next.set(r.campaignId, { version: r.version, state: r.state });
        }
        this.states = next;
        this.loadedOnce = true;
        if (mine.epoch === this.epoch) {
          this.at = Math.max(this.at, started);
          this.mustWait = false;
        }
        return this.view;
      } finally {
        if (this.loading === mine) this.loading = null;
      }
    })();
    this.loading = mine;
    return mine.promise;
  }
}
