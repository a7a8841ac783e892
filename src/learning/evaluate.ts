import { OfferpilotError, type ErrorDetail } from '../core/errors.js';
import { NONE } from '../core/learn/actions.js';
import { encodeTokens } from '../core/learn/features.js';
import { constantPolicy, type CandidatePolicy, type LoggedRow } from '../core/learn/ope.js';
import { PolicyConfigSchema, type PolicyConfig } from '../core/catalog.js';
import { policyFor } from '../core/policies.js';
import type { LearningTrace, PolicyState } from '../core/policy.js';
import type { LearningRow } from './port.js';

/**
 * The engine's own decision log as logged bandit feedback: one row per decision that carries a
 * learner's trace, with the action it took, the CM it earned and the probability it was taken with.
 *
 * Logging probabilities. A treated decision took the policy's sampled action `trace.a` with
 * probability (1 − h)·p (h the campaign's holdout share, p the logged probability). "No offer" is
 * reached two ways: the holdout (probability h) and the policy choosing none ((1 − h)·π(none|x)),
 * and π(none|x) is logged only when the policy did choose none, so the exact marginal
 * h + (1 − h)·π(none|x) is unknown on most holdout rows. Giving each route its own propensity
 * (h and (1 − h)·p) would count "none" twice (IPS of "always none" would be twice its value).
 * Instead a candidate's "none" is split between the routes by one fixed share β: holdout rows
 * carry weight β/h, treated no-offer rows (1 − β)/((1 − h)·p); E[weight · r] is π(none|x)·E[r]
 * for any fixed β. β = h / (h + (1 − h)·s̄), s̄ the share of treated decisions that got no offer,
 * is the split with the least variance when π(none|x) is the same everywhere; it is kept in
 * [h, 1 − (1 − h)·max p] so every pseudo-propensity stays in (0, 1].
 */

/** How the log's "none" probabilities were split (see the module comment). */
export interface NoneSplit {
  holdoutShare: number;
  /** Share of treated traced decisions whose policy chose no offer (s̄). */
  treatedNoneShare: number;
  /** β: the part of a candidate's "none" carried by holdout rows. */
  beta: number;
}

/** Logged rows built from the engine's log, with the traces they came from (same order). */
export interface EngineLog {
  rows: LoggedRow[];
  traces: LearningTrace[];
  holdout: boolean[];
  /** Orders attributed to each decision (a purchase with a CM of 0 is still a purchase). */
  orders: number[];
  /** Feature token of each index of the rows' x (for the doubly robust reward model). */
  features: string[];
  /** Decisions in the window without a learner's trace (static policy): they cannot be replayed. */
  skipped: number;
  split: NoneSplit;
}

/** Tokens worth a feature of the reward model: seen in at least `minCount` rows, the `max` most frequent. */
const MIN_FEATURE_COUNT = 10;
const MAX_FEATURES = 60;

/** Whether a stored trace has the shape decide logs (older or foreign logs may not). */
export function isLearningTrace(t: unknown): t is LearningTrace {
  if (t === null || typeof t !== 'object') return false;
  const x = t as LearningTrace;
  return typeof x.a === 'string' && Array.isArray(x.k) && typeof x.m === 'number' && Array.isArray(x.acts);
}

/** The engine's logged decisions as OPE rows: action, reward (CM, 0 without orders), pseudo-propensity and context. */
export function engineLog(input: readonly LearningRow[], holdoutShare: number): EngineLog {
  const traced = input.filter((r) => isLearningTrace(r.trace));
  const h = Math.min(1, Math.max(0, holdoutShare));
  const treated = traced.filter((r) => !r.holdout);
  const treatedNone = treated.filter((r) => (r.trace as LearningTrace).a === NONE);
  const s = treated.length > 0 ? treatedNone.length / treated.length : 0;
  const maxP = treatedNone.reduce((m, r) => Math.max(m, r.probability), 0);
  let beta = h > 0 ? (s > 0 ? h / (h + (1 - h) * s) : 1) : 0;
  if (h > 0 && treatedNone.length > 0) beta = Math.min(Math.max(beta, h), 1 - (1 - h) * maxP);
  const counts = new Map<string, number>();
  for (const r of traced) for (const tok of new Set((r.trace as LearningTrace).k)) counts.set(tok, (counts.get(tok) ?? 0) + 1);
  const features = [...counts]
    .filter(([, c]) => c >= MIN_FEATURE_COUNT)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, MAX_FEATURES)
    .map(([t]) => t);
  const vocab = new Map(features.map((t, i) => [t, i]));
  const rows: LoggedRow[] = [];
  const traces: LearningTrace[] = [];
  const holdout: boolean[] = [];
  const orders: number[] = [];
  let skipped = input.length - traced.length;
  for (const r of traced) {
    const t = r.trace as LearningTrace;
    // A holdout decision logged when the campaign had a holdout it no longer has: h unknown.
    if (r.holdout && h === 0) {
      skipped++;
      continue;
    }
    let action: string;
    let propensity: number;
    if (r.holdout) {
      action = NONE;
      propensity = h / beta;
    } else {
      action = t.a;
      propensity = t.a === NONE && h > 0 ? ((1 - h) * r.probability) / (1 - beta) : (1 - h) * r.probability;
    }
    rows.push({ action, reward: r.orders > 0 ? r.cm : 0, propensity: Math.min(1, propensity), x: encodeTokens(t.k, vocab) });
    traces.push(t);
    holdout.push(r.holdout);
    orders.push(r.orders);
  }
  return { rows, traces, holdout, orders, features, skipped, split: { holdoutShare: h, treatedNoneShare: s, beta } };
}

/** A candidate as the API and CLI name it: `constant:<action>`, `uniform`, `current`, `engine:<policy JSON>`, or `{ engine: <policy config> }`. */
export type CandidateSpec = string | { engine: unknown };

/** A parsed candidate: its probabilities per logged row, and the policy configuration replayed (if any). */
export interface ParsedCandidate {
  label: string;
  candidate: CandidatePolicy;
  config: PolicyConfig | null;
}

const bad = (message: string, details: ErrorDetail[]) => new OfferpilotError('VALIDATION_FAILED', message, details);

/** An engine policy configuration, validated like a campaign's (`path` names the field in errors). */
export function parsePolicyConfig(raw: unknown, path: string): PolicyConfig {
  const r = PolicyConfigSchema.safeParse(raw);
  if (!r.success) {
    const details = r.error.issues.map((i) => ({ path: [path, ...i.path.map(String)].join('.'), message: i.message }));
    throw bad(`Invalid ${details[0]!.path}: ${details[0]!.message}`, details);
  }
  return r.data;
}

/**
 * A policy configuration replayed on each logged trace: `weightsOf(trace, state)` is the very
 * function decide samples from, so the probabilities are those the policy would have logged.
 */
export function replayPolicy(config: PolicyConfig, state: PolicyState | undefined, traces: readonly LearningTrace[], path = 'policy'): CandidatePolicy {
  const policy = policyFor({ policy: config });
  const weightsOf = policy.weightsOf;
  if (!weightsOf) throw bad(`A ${config.type} policy gives no action probabilities to replay (use ab, thompson, contextual or uplift)`, [{ path, message: 'a learning policy' }]);
  return (i) => {
    const t = traces[i]!;
    const { weights } = weightsOf(t, state);
    const m = new Map<string, number>();
    t.acts.forEach(([key], j) => m.set(key, (m.get(key) ?? 0) + weights[j]!));
    m.set(NONE, (m.get(NONE) ?? 0) + weights[t.acts.length]!);
    return m;
  };
}

/** Parses a candidate spec against the log it will be evaluated on. */
export function parseEngineCandidate(spec: CandidateSpec, log: EngineLog, ctx: { current: PolicyConfig; state: PolicyState | undefined }, path = 'policy'): ParsedCandidate {
  if (typeof spec === 'object' && spec !== null) {
    const config = parsePolicyConfig(spec.engine, `${path}.engine`);
    return { label: `engine:${JSON.stringify(config)}`, candidate: replayPolicy(config, ctx.state, log.traces, path), config };
  }
  if (spec === 'current') return { label: `current (${JSON.stringify(ctx.current)})`, candidate: replayPolicy(ctx.current, ctx.state, log.traces, path), config: ctx.current };
  if (spec === 'uniform') {
    // Uniform over each decision's own eligible actions and "none": what could have been done there.
    return {
      label: 'uniform',
      candidate: (i) => {
        const t = log.traces[i]!;
        const keys = [...new Set([...t.acts.map((a) => a[0]), NONE])];
        return new Map(keys.map((k) => [k, 1 / keys.length]));
      },
      config: null,
    };
  }
  if (spec.startsWith('constant:')) {
    const a = spec.slice('constant:'.length);
    const logged = [...new Set(log.rows.map((r) => r.action))].sort();
    if (!logged.includes(a)) throw bad(`constant:${a}: "${a}" is never taken in these decisions (actions: ${logged.join(', ')}), so no estimator can see its reward`, [{ path, message: 'an action in the log' }]);
    return { label: spec, candidate: constantPolicy(a), config: null };
  }
  if (spec.startsWith('engine:')) {
    let raw: unknown;
    try {
      raw = JSON.parse(spec.slice('engine:'.length));
    } catch (e) {
      throw bad(`engine: the policy is not JSON: ${(e as Error).message}`, [{ path, message: 'engine:<policy config JSON>' }]);
    }
    const config = parsePolicyConfig(raw, path);
    return { label: `engine:${JSON.stringify(config)}`, candidate: replayPolicy(config, ctx.state, log.traces, path), config };
  }
  throw bad(`policy "${spec}": expected constant:<action>, uniform, current or engine:<policy config JSON>`, [{ path, message: 'constant:<action> | uniform | current | engine:<json>' }]);
}
