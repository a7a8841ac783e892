import { counterKeys } from '../core/counter-keys.js';
import type { Decision } from '../core/decide.js';
import type { ReasonCode } from '../core/reasons.js';
import type { CommitPlan, CommitRefusal, CounterOp, IssuanceRecord, SubjectCheck } from './port.js';

/** What the commit writes besides the decision itself: ids, codes and the packed log entry. */
export interface CommitMeta {
  decisionId: string;
  issuanceIds: string[];
  /** Coupon codes of the issuances (e-mail, SMS, push), null where none. */
  codes?: Array<string | null>;
  requestId?: string;
  catalogVersion: number;
  /** The decision log entry as JSON (candidates, context, versions). */
  body: string;
}

/**
 * Compile-time proof that every refusal a store can answer is a core reason code, since the
 * decide loop excludes an offer with it. Adding a refusal that core does not know fails here.
 */
export const COMMIT_REFUSALS_ARE_REASONS: [CommitRefusal] extends [ReasonCode] ? true : never = true;

const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** "ofr_a@10+ofr_b": the offers (and values) a decision showed or would have shown; null for none. */
export function offerKey(offers: Array<{ offerId: string; value: number | null }>): string | null {
  return offers.length === 0 ? null : offers.map((o) => (o.value === null ? o.offerId : `${o.offerId}@${o.value}`)).join('+');
}

/** Turns a pure decision into the plan that commits it (built once per attempt). */
export function buildCommitPlan(d: Decision, meta: CommitMeta): CommitPlan {
  const subjectChecks: SubjectCheck[] = [];
  const counterOps: Array<CounterOp<CommitRefusal>> = [];
  const issuances: IssuanceRecord[] = [];
  d.chosen.forEach((c, i) => {
    // Presented again from the wallet: reserved and recorded when it was issued.
    if (c.held !== null) return;
    // Content is shown, not held: each showing is recorded (caps count it) but is no wallet entry.
    const content = c.type === 'content';
    if (c.guard.perCustomer !== null || c.guard.frequency !== null || !content) {
      subjectChecks.push({ offerId: c.offerId, perCustomer: c.guard.perCustomer, frequency: c.guard.frequency, notHeld: !content });
    }
    // Counters are kept even without a limit so issued and reserved totals are always known.
    counterOps.push({ key: counterKeys.issued(c.offerId), amount: 1, limit: c.guard.globalCap ?? UNLIMITED, offerId: c.offerId, reason: 'GLOBAL_CAP' });
    if (c.reserve > 0) {
      counterOps.push({ key: counterKeys.spent(c.offerId), amount: c.reserve, limit: c.guard.budgetTotal ?? UNLIMITED, offerId: c.offerId, reason: 'BUDGET_EXHAUSTED' });
      counterOps.push({
        key: counterKeys.daily(c.offerId, c.guard.day),
        amount: c.reserve,
        limit: c.guard.dailyLiability ?? UNLIMITED,
        offerId: c.offerId,
        reason: 'DAILY_LIABILITY',
      });
    }
    issuances.push({
      id: meta.issuanceIds[i]!,
      decisionId: meta.decisionId,
      offerId: c.offerId,
      offerVersion: c.version,
      campaignId: d.campaign!.id,
      subjectId: d.subjectId,
      customerId: d.customerId,
      channel: d.channel,
      placement: d.placement,
      value: c.value,
      discount: c.discount,
      cost: c.cost,
      reserved: c.reserve,
      points: c.points,
      liabilityDay: c.guard.day,
      issuedAt: d.decidedAt,
      expiresAt: c.expiresAt,
      status: content ? 'shown' : 'issued',
      code: content ? null : (meta.codes?.[i] ?? null),
    });
  });
  counterOps.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    // Held entries too: an offer paused or edited since the snapshot is not presented on stale terms.
    versionChecks: { campaign: d.chosen.length > 0 ? d.campaign : null, offers: d.chosen.map((c) => ({ offerId: c.offerId, version: c.version })) },
    subjectChecks,
    counterOps,
    issuances,
    decision: {
      id: meta.decisionId,
      requestId: meta.requestId ?? null,
      createdAt: d.decidedAt,
      campaignId: d.campaign?.id ?? null,
      campaignVersion: d.campaign?.version ?? null,
      subjectId: d.subjectId,
      customerId: d.customerId,
      anonymousId: d.anonymousId,
      placement: d.placement,
      channel: d.channel,
      holdout: d.holdout,
      personalized: d.personalized,
      probability: d.probability,
      policy: d.policy,
      catalogVersion: meta.catalogVersion,
      body: meta.body,
      offerKey: offerKey(d.holdout ? d.counterfactual : d.chosen),
      globalHoldout: d.globalHoldout,
    },
  };
}
