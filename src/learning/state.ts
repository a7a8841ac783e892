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

  constructor(
    private readonly port: PolicyStatePort,
    private readonly refreshMs: number,
  ) {}

  /** The current states, at most `refreshMs` older than the store's. */
  current(): Promise<PolicyStates> | PolicyStates {
    if (performance.now() - this.at < this.refreshMs) return this.view;
    if (this.loading && this.loading.epoch === this.epoch) return this.loading.promise;
    return this.reload();
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
        if (mine.epoch === this.epoch) this.at = Math.max(this.at, started);
        return this.view;
      } finally {
        if (this.loading === mine) this.loading = null;
      }
    })();
    this.loading = mine;
    return mine.promise;
  }
}
