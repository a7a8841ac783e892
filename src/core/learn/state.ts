/**
 * The published state of a learning policy, as the store holds it (JSON) and every process
 * reads it: what a decision needs, never the raw statistics behind it.
 */

/** One action's fitted models in a linear state. */
export interface LinearActionModel {
  /**
   * Purchase probability: θ·x over the vocabulary — posterior mean, and covariance entries at the
   * state's `pairs` (or, in states written before those existed, the whole matrix row-major).
   */
  p: { mean: number[]; cov: number[] };
  /** CM given a purchase = basket margin − the action's cost + θ·[value tokens] (posterior mean of the residual). */
  v: { mean: number[] };
  /** Observations behind it (weighted). */
  n: number;
  /**
   * Prior variance of a coefficient, per group (LinearState.groups): with the posterior variance
   * it says how much of a prediction's uncertainty is still the prior's — how little evidence of
   * its own the action has for the request. Absent in states written before it existed.
   */
  pv?: number[];
}

/** State of `contextual` (trained online) and `uplift` (trained offline) policies. */
export interface LinearState {
  kind: 'contextual' | 'uplift';
  /** Feature tokens of the purchase model, by index. */
  vocab: string[];
  /** Feature tokens of the value model, by index; the margin feature comes after them. */
  vvocab: string[];
  /**
   * The covariance entries kept, as i·d + j (i ≤ j): pairs of tokens seen in one request. A
   * request's variance needs only those (tokens of different cohorts never meet), and the state
   * every process re-reads shrinks several times over. Absent: covariances are dense.
   */
  pairs?: number[];
  /** The prior group of each purchase token (see LinearActionModel.pv). */
  groups?: number[];
  actions: Record<string, LinearActionModel>;
  /** Decisions whose outcome the models have counted (delay-weighted). */
  trials: number;
  /** Shadow price per unit of reserved cost, by offer id (budget pacing; absent = 0). */
  shadow: Record<string, number>;
  trainedAt: number;
}

/** One arm in one segment of a `thompson` state (for explanations and the dashboard). */
export interface ArmSummary {
  /** Effective trials and purchases. */
  n: number;
  buys: number;
  /** Mean CM per decision and its posterior sd. */
  mean: number;
  sd: number;
}

/** State of the `thompson` policy: weights per segment, recomputed on a cadence by the trainer. */
export interface ThompsonState {
  kind: 'thompson';
  /** Segment key → action → weight (probability of being best, before the exploration floor). */
  weights: Record<string, Record<string, number>>;
  arms: Record<string, Record<string, ArmSummary>>;
  trials: number;
  shadow: Record<string, number>;
  trainedAt: number;
}

export type LearnedState = LinearState | ThompsonState;
