import type { CatalogService } from '../catalog/service.js';
import type { Campaign } from '../core/catalog.js';
import { OfferpilotError } from '../core/errors.js';
import { evaluatePolicy, type OpeReport } from '../core/learn/ope.js';
import type { LearnedState, LinearState, ThompsonState } from '../core/learn/state.js';
import type { PolicyState } from '../core/policy.js';
import { parseDuration, type Clock } from '../core/runtime.js';
import type { CatalogSnapshot, CompiledCampaign } from '../core/snapshot.js';
import { engineLog, parseEngineCandidate, type CandidateSpec, type NoneSplit } from './evaluate.js';
import type { LearningPort } from './port.js';
import type { PolicyStateSource } from './state.js';
import { trainUplift, type UpliftTrainResult } from './uplift.js';

const DAY = 86_400_000;
const DEFAULT_WINDOW_DAYS = 30;

export interface LearningServiceDeps {
  port: Pick<LearningPort, 'readLearningRows' | 'readPolicyState'>;
  states: PolicyStateSource;
  catalog: CatalogService;
  clock: Clock;
  snapshot: () => Promise<CatalogSnapshot>;
}

export interface TrainQuery {
  campaignId: string;
  /** Every logged decision, including those whose attribution window is still open (for tests and demos). */
  all?: boolean;
  seed?: number;
  /** false: fit and report, but do not publish the state (default true). */
  publish?: boolean;
}

/** What a training run reports: the fit's summary (its state aside), and what was published. */
export interface TrainSummary extends Omit<UpliftTrainResult, 'state'> {
  campaignId: string;
  /** Decisions made up to this instant were read (ISO). */
  to: string;
  /** The policy state version published (null when not published). */
  version: number | null;
  trainedAt: string;
  /** The fitted state itself (for `publish: false`, to evaluate before publishing). */
  state: LinearState;
}

export interface EvaluateQuery {
  campaignId: string;
  policy: CandidateSpec;
  from?: string;
  to?: string;
  /** Include decisions whose attribution window has not closed (their reward may still grow). */
  includeOpen?: boolean;
  /** The campaign's stored state version replayed engine candidates read (default: the current one). */
  stateVersion?: number;
  /** A state to replay instead of the stored one (e.g. a `train --out` file not yet published). */
  state?: PolicyState;
  clip?: number;
  folds?: number;
  seed?: number;
}

export interface EvaluateResult extends OpeReport {
  campaignId: string;
  policy: string;
  from: string;
  to: string;
  /** The state version engine candidates were replayed with (null: no state). */
  stateVersion: number | null;
  skipped: number;
  split: NoneSplit;
  features: number;
}

/** One action of a linear state, as the summary shows it. */
export interface LinearActionSummary {
  action: string;
  n: number;
  /** The purchase model's intercept: the purchase probability at the root of the segment tree. */
  purchaseIntercept: number;
  /** The value model's intercept: CM given a purchase above the basket margin less the cost. */
  valueIntercept: number;
}

export interface LearningSummary {
  campaignId: string;
  policy: Campaign['policy'];
  version: number | null;
  updatedAt: string | null;
  kind: LearnedState['kind'] | null;
  trainedAt: string | null;
  trials: number | null;
  actions: LinearActionSummary[];
  /** thompson: segment → action → arm (effective trials, purchases, mean CM per decision and its sd, weight). */
  segments: Record<string, Record<string, { n: number; buys: number; mean: number; sd: number; weight: number | null }>>;
  shadow: Record<string, number>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** When `s` is an ISO instant, its epoch ms; `field` names it in the error. */
function instant(s: string | undefined, field: string): number | undefined {
  if (s === undefined) return undefined;
  const t = Date.parse(s);
  if (!Number.isFinite(t)) throw new OfferpilotError('VALIDATION_FAILED', `${field} is not an ISO 8601 time: ${s}`, [{ path: field, message: 'an ISO 8601 date or timestamp' }]);
  return t;
}

/**
 * Offline learning operations on the engine's own log: train the `uplift` T-learner and publish
 * it as the campaign's next policy state version; evaluate a candidate policy off-policy; and
 * summarise the current learned state.
 */
export class LearningService {
  constructor(private readonly d: LearningServiceDeps) {}

  /** Trains the uplift model on the campaign's final decisions and publishes it (unless `publish: false`). */
  async train(q: TrainQuery): Promise<TrainSummary> {
    const campaign = await this.d.catalog.getCampaign(q.campaignId);
    const publish = q.publish ?? true;
    // Publishing an uplift state over another learner's would make that learner decide blind.
    if (publish && campaign.policy.type !== 'uplift') {
      throw new OfferpilotError('CONFLICT', `Campaign ${campaign.id} uses the ${campaign.policy.type} policy: publishing an uplift model would replace its state. Switch its policy to {"type":"uplift"} first, or train without publishing (--out) and evaluate the model`, [{ path: 'campaignId', message: `policy is ${campaign.policy.type}, not uplift` }]);
    }
    const now = this.d.clock.now();
    const to = q.all ? now : now - this.windowOf(campaign);
    const rows = await this.d.port.readLearningRows(campaign.id, 0, to);
    const current = await this.d.port.readPolicyState(campaign.id);
    const prior = current?.state as LearnedState | undefined;
    const r = trainUplift(await this.compiled(campaign), rows, { now, seed: q.seed, shadow: prior?.kind === 'uplift' ? prior.shadow : undefined });
    const version = publish ? await this.d.states.write(campaign.id, r.state, now) : null;
    return { campaignId: campaign.id, to: iso(to), rows: r.rows, holdoutRows: r.holdoutRows, skipped: r.skipped, actions: r.actions, split: r.split, validation: r.validation, version, trainedAt: iso(now), state: r.state };
  }

  /** Off-policy evaluation of a candidate on the campaign's logged decisions (IPS, SNIPS, DR). */
  async evaluate(q: EvaluateQuery): Promise<EvaluateResult> {
    const campaign = await this.d.catalog.getCampaign(q.campaignId);
    const now = this.d.clock.now();
    const closed = now - this.windowOf(campaign);
    const asked = instant(q.to, 'to') ?? now;
    const to = q.includeOpen ? asked : Math.min(asked, closed);
    const from = instant(q.from, 'from') ?? to - DEFAULT_WINDOW_DAYS * DAY;
    if (from >= to) {
      const why = !q.includeOpen && asked > closed ? ` (decisions after ${iso(closed)} are still in their attribution window; see includeOpen)` : '';
      throw new OfferpilotError('VALIDATION_FAILED', `from (${iso(from)}) must be before to (${iso(to)})${why}`, [{ path: 'from', message: `before ${iso(to)}` }]);
    }
    let state: PolicyState | undefined = q.state;
    if (!state) {
      const stored = await this.d.port.readPolicyState(campaign.id);
      if (q.stateVersion !== undefined && stored?.version !== q.stateVersion) {
        // Only the latest version is kept in the store.
        throw new OfferpilotError('VALIDATION_FAILED', `State version ${q.stateVersion} of ${campaign.id} is not stored (the store keeps only the current one: ${stored ? `version ${stored.version}` : 'none'})`, [{ path: 'stateVersion', message: stored ? `the current version is ${stored.version}` : 'no state stored' }]);
      }
      state = stored ? { version: stored.version, state: stored.state } : undefined;
    }
    // The port reads (from, to]; `from` is inclusive here, as a window start reads.
    const log = engineLog(await this.d.port.readLearningRows(campaign.id, from - 1, to), campaign.holdoutPct / 100);
    if (log.rows.length < 2) {
      throw new OfferpilotError('NOT_ENOUGH_DATA', `Campaign ${campaign.id} has ${log.rows.length} decisions with a learner's trace from ${iso(from)} to ${iso(to)}${log.skipped ? ` (${log.skipped} without one: a static policy logs none)` : ''}; evaluation needs at least 2`, [{ path: 'from', message: 'a window with logged learning decisions' }]);
    }
    const parsed = parseEngineCandidate(q.policy, log, { current: campaign.policy, state });
    const report = evaluatePolicy(log.rows, parsed.candidate, { clip: q.clip, folds: q.folds, seed: q.seed });
    return { campaignId: campaign.id, policy: parsed.label, from: iso(from), to: iso(to), stateVersion: state?.version ?? null, skipped: log.skipped, split: log.split, features: log.features.length, ...report };
  }

  /** The campaign's current learned state, summarised (no covariances). */
  async summary(campaignId: string): Promise<LearningSummary> {
    const campaign = await this.d.catalog.getCampaign(campaignId);
    const stored = await this.d.port.readPolicyState(campaign.id);
    const st = stored?.state as LearnedState | undefined;
    const known = st && (st.kind === 'contextual' || st.kind === 'uplift' || st.kind === 'thompson') ? st : undefined;
    const out: LearningSummary = {
      campaignId: campaign.id,
      policy: campaign.policy,
      version: stored?.version ?? null,
      updatedAt: stored ? iso(stored.updatedAt) : null,
      kind: known?.kind ?? null,
      trainedAt: known && Number.isFinite(known.trainedAt) ? iso(known.trainedAt) : null,
      trials: known ? known.trials : null,
      actions: [],
      segments: {},
      shadow: known?.shadow ?? {},
    };
    if (known && known.kind !== 'thompson') {
      const lin = known as LinearState;
      const bias = lin.vocab.indexOf('b');
      out.actions = Object.entries(lin.actions)
        .map(([action, m]) => ({ action, n: m.n, purchaseIntercept: bias >= 0 ? (m.p.mean[bias] ?? 0) : 0, valueIntercept: m.v.mean[lin.vvocab.indexOf('b')] ?? 0 }))
        .sort((a, b) => (a.action < b.action ? -1 : 1));
    } else if (known) {
      const th = known as ThompsonState;
      for (const [seg, arms] of Object.entries(th.arms)) {
        out.segments[seg] = Object.fromEntries(Object.entries(arms).map(([a, arm]) => [a, { ...arm, weight: th.weights[seg]?.[a] ?? null }]));
      }
    }
    return out;
  }

  private windowOf(c: Campaign): number {
    return parseDuration(c.attributionWindow) ?? 7 * DAY;
  }

  /** The campaign as the learners' priors read it: from the live snapshot, or built from the catalog when not live. */
  private async compiled(c: Campaign): Promise<CompiledCampaign> {
    const live = (await this.d.snapshot()).campaigns.find((x) => x.campaign.id === c.id);
    if (live) return live;
    const offers = await Promise.all(c.offers.map((id) => this.d.catalog.getOffer(id)));
    // publishLinear reads only the campaign's response model and its offers' ladders and lifts.
    return { campaign: c, offers: offers.map((offer) => ({ offer })) } as unknown as CompiledCampaign;
  }
}
