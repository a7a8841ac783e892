import { counterKeys, type Decision } from '../core/decide.js';
import type { ReasonCode } from '../core/reasons.js';
import type { CommitMeta } from './ports.js';
import type { DB } from './schema.js';

/** A conditional increment: add `amount` to `key` only if the total stays within `limit`. */
export interface CounterOp {
  key: string;
  amount: number;
  limit: number;
  offerId: string;
  reason: ReasonCode;
}

/** A check against the subject's own history, made under the subject's lock. */
export interface SubjectCheck {
  offerId: string;
  perCustomer: number | null;
  frequency: { count: number; windowMs: number } | null;
  /** Refuse if the subject already holds an open entry of the offer (a concurrent decision issued it). */
  notHeld: boolean;
}

/** Everything a commit writes, computed once so both dialects execute the same plan. */
export interface CommitPlan {
  /** The campaign and offer versions the decision used; the commit refuses if they are no longer live and current. */
  versionChecks: { campaign: { id: string; version: number } | null; offers: Array<{ offerId: string; version: number }> };
  subjectChecks: SubjectCheck[];
  /** Sorted by key so concurrent commits lock counters in one order and cannot deadlock. */
  counterOps: CounterOp[];
  issuances: Array<DB['issuances']>;
  decision: DB['decisions'];
}

const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** "ofr_a@10+ofr_b": the offers (and values) a decision showed or would have shown; null for none. */
export function offerKey(offers: Array<{ offerId: string; value: number | null }>): string | null {
  return offers.length === 0 ? null : offers.map((o) => (o.value === null ? o.offerId : `${o.offerId}@${o.value}`)).join('+');
}

/** Turns a pure decision into the writes that commit it. */
export function commitPlan(d: Decision, meta: CommitMeta): CommitPlan {
  const subjectChecks: SubjectCheck[] = [];
  const counterOps: CounterOp[] = [];
  const issuances: Array<DB['issuances']> = [];
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
      decision_id: meta.decisionId,
      offer_id: c.offerId,
      offer_version: c.version,
      campaign_id: d.campaign!.id,
      subject_id: d.subjectId,
      customer_id: d.customerId,
      channel: d.channel,
      placement: d.placement,
      value: c.value,
      discount: c.discount,
      cost: c.cost,
      reserved: c.reserve,
      points: c.points,
      liability_day: c.guard.day,
      issued_at: d.decidedAt,
      expires_at: c.expiresAt,
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
      request_id: meta.requestId ?? null,
      created_at: d.decidedAt,
      campaign_id: d.campaign?.id ?? null,
      campaign_version: d.campaign?.version ?? null,
      subject_id: d.subjectId,
      customer_id: d.customerId,
      anonymous_id: d.anonymousId,
      placement: d.placement,
      channel: d.channel,
      holdout: d.holdout ? 1 : 0,
      personalized: d.personalized ? 1 : 0,
      probability: d.probability,
      policy: d.policy,
      catalog_version: meta.catalogVersion,
      body: meta.body,
      offer_key: offerKey(d.holdout ? d.counterfactual : d.chosen),
      global_holdout: d.globalHoldout ? 1 : 0,
    },
  };
}

/** Compares the versions a decision used with the stored heads; returns the first that changed. */
export function staleVersion(
  checks: CommitPlan['versionChecks'],
  head: (kind: 'offer' | 'campaign', id: string) => { status: string; current_version: number } | undefined,
): { offerId: string; detail: string } | null {
  const firstOffer = checks.offers[0]?.offerId ?? '';
  if (checks.campaign) {
    const h = head('campaign', checks.campaign.id);
    if (!h || h.status !== 'live' || Number(h.current_version) !== checks.campaign.version) {
      return { offerId: firstOffer, detail: `campaign ${checks.campaign.id} is now ${h?.status ?? 'gone'} v${h?.current_version ?? '?'}` };
    }
  }
  for (const o of checks.offers) {
    const h = head('offer', o.offerId);
    if (!h || h.status !== 'live' || Number(h.current_version) !== o.version) {
      return { offerId: o.offerId, detail: `now ${h?.status ?? 'gone'} v${h?.current_version ?? '?'}` };
    }
  }
  return null;
}

/** Evaluates subject checks against the subject's issuance history (read under its lock). */
export function failedSubjectCheck(
  checks: SubjectCheck[],
  history: ReadonlyArray<{ id: string; offer_id: string; issued_at: number; status: string; expires_at: number }>,
  now: number,
): { offerId: string; reason: ReasonCode; detail: string } | null {
  for (const ch of checks) {
    let ever = 0;
    let inWindow = 0;
    for (const h of history) {
      if (h.offer_id !== ch.offerId) continue;
      if (ch.notHeld && h.status === 'issued' && Number(h.expires_at) > now) return { offerId: ch.offerId, reason: 'ALREADY_HELD', detail: h.id };
      ever++;
      if (ch.frequency && Number(h.issued_at) > now - ch.frequency.windowMs) inWindow++;
    }
    if (ch.perCustomer !== null && ever >= ch.perCustomer) return { offerId: ch.offerId, reason: 'CUSTOMER_CAP', detail: `${ever} of ${ch.perCustomer}` };
    if (ch.frequency && inWindow >= ch.frequency.count) return { offerId: ch.offerId, reason: 'FREQUENCY_CAP', detail: `${inWindow} in window` };
  }
  return null;
}
