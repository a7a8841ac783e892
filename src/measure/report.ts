import { cohortOf } from '../customers/features.js';
import type { MeasureReads, MomentRow, UnitRow } from './port.js';
import { confidenceSequence, difference, insufficientPair, pValue, relativeLift, srm, UnitSums, zFor, type InsufficientReason, type Interval } from './stats.js';

const DAY = 86_400_000;

/** Thresholds a report judges against. */
export interface MeasureSettings {
  /** Customers per arm before a report gives a verdict. */
  minCustomersPerArm: number;
  /** Days of data before a report gives a verdict. */
  minDays: number;
  /** The readout's bar: relative lift in CM per session in each of two consecutive 30-day windows. */
  liftThreshold: number;
  /** Where always-valid intervals are tightest, in customers per report. */
  sequentialPlannedUnits: number;
}

export const DEFAULT_MEASURE_SETTINGS: MeasureSettings = { minCustomersPerArm: 1000, minDays: 14, liftThreshold: 0.08, sequentialPlannedUnits: 10_000 };

export interface IncrementalityQuery {
  campaignId?: string | null;
  /** `global`: the program-level holdout against everyone else, across campaigns (default: each campaign's own holdout). */
  arm?: 'campaign' | 'global';
  /** Window start and end (ISO times); default the 30 days up to now. */
  from?: string;
  to?: string;
  /** Confidence level, default 0.95. */
  level?: number;
  /** Also give always-valid intervals (safe to look every day). */
  sequential?: boolean;
  /** Skip the breakdowns (cohort, placement, channel, offer): faster for guards. */
  breakdowns?: boolean;
}

/**
 * One arm's totals and per-session figures. Rates are null when there is nothing to divide by
 * (no sessions; no orders for AOV): an empty arm is no data, not a rate of 0.
 */
export interface ArmSummary {
  /** insufficient_data: too few customers to estimate a variance (`reason` says which). */
  status: 'ok' | 'insufficient_data';
  reason: InsufficientReason | null;
  customers: number;
  sessions: number;
  orders: number;
  conversionRate: number | null;
  aov: number | null;
  /** Revenue net of refunds and returns; this is what was taken off. */
  revenue: number;
  refunded: number;
  revenuePerSession: number | null;
  cm: number;
  cmPerSession: number | null;
  discountCost: number;
  /** Offer costs beyond the discount: loyalty points' value, gifts, financing fees. */
  otherOfferCost: number;
  pointsAwarded: number;
  redemptions: number;
  offersIssued: number;
  /** Redemptions per offer issued (treatment). */
  redemptionRate: number | null;
}

/**
 * Treatment against holdout on one metric. What cannot be estimated is null, never NaN, and
 * `reason` says why: an arm with fewer than 2 customers or nothing to divide by gives no
 * interval (status insufficient_data); zero variance gives no p-value; a zero holdout no lift.
 */
export interface Comparison {
  status: 'ok' | 'insufficient_data';
  reason: InsufficientReason | null;
  treatment: number | null;
  holdout: number | null;
  difference: Interval | null;
  relativeLift: Interval | null;
  pValue: number | null;
  /** Always-valid interval for the difference (with `sequential`; null when there is no difference). */
  sequential?: Interval | null;
}

export type Verdict = 'insufficient_data' | 'sample_ratio_mismatch' | 'gains' | 'loses' | 'inconclusive';

export interface SrmCheck {
  campaignId: string;
  holdoutShareDesigned: number;
  customers: { treatment: number; holdout: number };
  chi2: number;
  pValue: number;
  mismatch: boolean;
}

/** A breakdown row: the same comparison within one cohort, placement, channel or offer. */
export interface BreakdownRow {
  key: string;
  treatment: { customers: number; sessions: number; orders: number; cmPerSession: number | null };
  holdout: { customers: number; sessions: number; orders: number; cmPerSession: number | null };
  cmPerSession: { difference: Interval | null; relativeLift: Interval | null };
  incrementalCm: Interval | null;
  /** Why the intervals are null (e.g. an empty holdout in this cohort). */
  reason: InsufficientReason | null;
}

/** Offer-level P&L: treatment sessions that showed the offer against holdout sessions that would have. */
export interface OfferPnl {
  offer: string;
  issued: number;
  redeemed: number;
  discountCost: number;
  otherOfferCost: number;
  /** Null (see `reason`) when the offer's treatment or holdout sessions are too few for an interval. */
  incrementalRevenue: Interval | null;
  incrementalCm: Interval | null;
  incrementalOrders: Interval | null;
  reason: InsufficientReason | null;
  /** Offer cost per incremental order (null when the offer added no orders). */
  costPerIncrementalOrder: number | null;
  /**
   * Of this offer's issues in the window (alone or in a stack; null on a stack's row): the
   * reserved cost of those that expired unredeemed.
   */
  breakage: number | null;
  /**
   * Of the same issues: the reserved cost of those still redeemable. (Loyalty points a
   * redemption awards are charged at their value in otherOfferCost when awarded; the points
   * balance is in the liabilities report.)
   */
  liabilityOutstanding: number | null;
  /** What became of the same issues by the time of the report (null on a stack's row). */
  issues: { issued: number; redeemed: number; expired: number; open: number } | null;
}

export interface IncrementalityReport {
  campaignId: string | null;
  arm: 'campaign' | 'global';
  from: string;
  to: string;
  level: number;
  arms: { treatment: ArmSummary; holdout: ArmSummary };
  metrics: { conversionRate: Comparison; aov: Comparison; revenuePerSession: Comparison; cmPerSession: Comparison };
  /** Treatment − holdout CM per session × treated sessions (null: see `reason`). */
  incrementalCm: Interval | null;
  /** The smallest CM-per-session difference this sample detects with 80% power (null without a standard error). */
  minimumDetectableEffect: number | null;
  /** Why the headline interval or MDE is null; null when both are there. */
  reason: InsufficientReason | null;
  srm: { mismatch: boolean; checks: SrmCheck[] };
  sample: { minCustomersPerArm: number; minDays: number; days: number; met: boolean };
  verdict: Verdict;
  warnings: string[];
  breakdowns?: { cohort: BreakdownRow[]; placement: BreakdownRow[]; channel: BreakdownRow[]; offer: BreakdownRow[]; offerValue: BreakdownRow[] };
  offers?: OfferPnl[];
}

/** Sums over the units of one arm. */
class Arm {
  readonly cm = new UnitSums();
  readonly revenue = new UnitSums();
  readonly orders = new UnitSums();
  /** Revenue per order: the same per-unit ratio, with orders in place of sessions. */
  readonly aov = new UnitSums();
  discount = 0;
  extra = 0;
  refunded = 0;
  points = 0;
  redemptions = 0;
  /** Units known only by their session moments (their outcomes come through addOutcome). */
  addMoments(m: MomentRow): void {
    this.cm.addMoments(m.units, m.sessions, m.sessionsSq);
    this.revenue.addMoments(m.units, m.sessions, m.sessionsSq);
    this.orders.addMoments(m.units, m.sessions, m.sessionsSq);
    this.aov.addMoments(m.units, 0, 0);
  }
  addOutcome(u: UnitRow): void {
    this.cm.addOutcome(u.sessions, u.cm);
    this.revenue.addOutcome(u.sessions, u.revenue);
    this.orders.addOutcome(u.sessions, u.orders);
    this.aov.addMoments(0, u.orders, u.orders * u.orders);
    this.aov.addOutcome(u.orders, u.revenue);
    this.refunded += u.refunded;
    this.discount += u.discount;
    this.extra += u.extraCost;
    this.points += u.points;
    this.redemptions += u.redemptions;
  }
  summary(issued: number): ArmSummary {
    const reason = this.cm.insufficient;
    return {
      status: reason === null ? 'ok' : 'insufficient_data',
      reason,
      customers: this.cm.units,
      sessions: this.cm.n,
      orders: this.orders.y,
      conversionRate: this.orders.ratioOrNull,
      aov: this.aov.ratioOrNull,
      revenue: this.revenue.y,
      refunded: this.refunded,
      revenuePerSession: this.revenue.ratioOrNull,
      cm: this.cm.y,
      cmPerSession: this.cm.ratioOrNull,
      discountCost: this.discount,
      otherOfferCost: this.extra,
      pointsAwarded: this.points,
      redemptions: this.redemptions,
      offersIssued: issued,
      redemptionRate: issued > 0 ? this.redemptions / issued : null,
    };
  }
}

/** Session moments per arm, campaign and key from one row per customer. */
function momentsFrom(rows: Array<{ subject: string; holdout: boolean; campaignId: string; sessions: number }>, keyOf: (u: { subject: string }) => string | null): MomentRow[] {
  const out = new Map<string, MomentRow>();
  for (const u of rows) {
    const key = keyOf(u);
    const id = `${u.holdout}\u0000${u.campaignId}\u0000${key ?? ''}`;
    let m = out.get(id);
    if (!m) out.set(id, (m = { holdout: u.holdout, campaignId: u.campaignId, key, units: 0, sessions: 0, sessionsSq: 0 }));
    m.units++;
    m.sessions += u.sessions;
    m.sessionsSq += u.sessions * u.sessions;
  }
  return [...out.values()];
}

/** Groups a dimension's units by `keyOf(value)` from its moments and the units with outcomes. */
const splitDimension = (d: { moments: MomentRow[]; outcomes: UnitRow[] }, keyOf: (key: string | null) => string) => {
  const groups = new Map<string, { t: Arm; h: Arm }>();
  const get = (k: string) => {
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { t: new Arm(), h: new Arm() }));
    return g;
  };
  for (const m of d.moments) {
    const g = get(keyOf(m.key));
    (m.holdout ? g.h : g.t).addMoments(m);
  }
  for (const u of d.outcomes) {
    const g = get(keyOf(u.key));
    (u.holdout ? g.h : g.t).addOutcome(u);
  }
  return groups;
};

const scaled = (i: Interval | null, k: number): Interval | null => (i === null ? null : { estimate: i.estimate * k, lower: i.lower * k, upper: i.upper * k, se: i.se * k });

/** Treatment against holdout on one metric, with null and a reason wherever a figure cannot be estimated. */
function compare(t: UnitSums, h: UnitSums, level: number): Comparison {
  const d = difference(t, h, level);
  const lift = relativeLift(t, h, level);
  const p = d === null ? null : pValue(d.estimate, d.se);
  const reason = insufficientPair(t, h) ?? (p === null ? 'zero_variance' : lift === null ? 'zero_baseline' : null);
  const status = reason === null || reason === 'zero_baseline' ? 'ok' : 'insufficient_data';
  return { status, reason, treatment: t.ratioOrNull, holdout: h.ratioOrNull, difference: d, relativeLift: lift, pValue: p };
}

function rows(groups: Map<string, { t: Arm; h: Arm }>, level: number): BreakdownRow[] {
  return [...groups.entries()]
    .map(([key, { t, h }]) => {
      const diff = difference(t.cm, h.cm, level);
      const side = (a: Arm) => ({ customers: a.cm.units, sessions: a.cm.n, orders: a.orders.y, cmPerSession: a.cm.ratioOrNull });
      return { key, treatment: side(t), holdout: side(h), cmPerSession: { difference: diff, relativeLift: relativeLift(t.cm, h.cm, level) }, incrementalCm: scaled(diff, t.cm.n), reason: insufficientPair(t.cm, h.cm) };
    })
    .sort((a, b) => b.treatment.sessions + b.holdout.sessions - (a.treatment.sessions + a.holdout.sessions));
}


/** Why a figure is absent, in words for the report's warnings. */
export const REASON_TEXT: Record<InsufficientReason, string> = {
  empty_arm: 'an arm has no customers (insufficient data)',
  too_few_units: 'an arm has a single customer, so no variance (insufficient data)',
  no_sessions: 'an arm has nothing to divide by: no sessions, or no orders for AOV (insufficient data)',
  zero_variance: 'no variation in either arm, so no standard error or p-value (insufficient data)',
  zero_baseline: 'the holdout is 0, so no relative lift',
};

/** What a report needs from the engine. */
export interface ReportDeps {
  store: MeasureReads;
  now: number;
  settings: MeasureSettings;
  /** Designed holdout share of a campaign (0–1), and when it started. */
  campaign: (id: string) => { holdoutShare: number; createdAt: number } | null;
}

/**
 * Incremental contribution margin of a campaign (or of every campaign), treatment against its
 * randomized holdout, over a window. The unit of randomization is the customer, so every
 * interval is computed over customers (delta method for per-session ratios), never over sessions.
 */
export async function incrementalityReport(deps: ReportDeps, q: IncrementalityQuery = {}): Promise<IncrementalityReport> {
  const level = q.level ?? 0.95;
  const to = q.to !== undefined ? Date.parse(q.to) : deps.now;
  const from = q.from !== undefined ? Date.parse(q.from) : to - 30 * DAY;
  const campaignId = q.campaignId ?? null;
  const base = { campaignId, from, to, arm: q.arm ?? 'campaign' };
  const wantBreakdowns = q.breakdowns !== false;
  // Per customer, without returning a row per customer unless the breakdowns need one anyway
  // (the cohort is a customer attribute): session moments per arm, full rows only for customers
  // with outcomes. With breakdowns, every read they need starts at once and the headline's
  // outcomes are the finest-grain outcomes summed up (one read fewer).
  const breakdownReads = wantBreakdowns
    ? Promise.all([
        deps.store.measureBreakdowns(base),
        deps.store.lastOrdersBefore(from),
        deps.store.measureIssued(base, deps.now),
      ])
    : null;
  let head: { moments: MomentRow[]; outcomes: UnitRow[] };
  let shown: { treatment: number; holdout: number } | null = null;
  if (breakdownReads) {
    const [b] = await breakdownReads;
    head = { moments: momentsFrom(b.perCustomer, () => null), outcomes: b.outcomes.none };
  } else {
    const [moments, outcomes, s] = await Promise.all([
      deps.store.measureMoments({ ...base, dimension: 'none' }),
      deps.store.measureOutcomes({ ...base, dimension: 'none' }),
      deps.store.measureOffersShown(base),
    ]);
    head = { moments, outcomes };
    shown = s;
  }
  const t = new Arm();
  const h = new Arm();
  for (const m of head.moments) (m.holdout ? h : t).addMoments(m);
  for (const u of head.outcomes) (u.holdout ? h : t).addOutcome(u);

  const metrics = {
    conversionRate: compare(t.orders, h.orders, level),
    aov: compare(t.aov, h.aov, level),
    revenuePerSession: compare(t.revenue, h.revenue, level),
    cmPerSession: compare(t.cm, h.cm, level),
  };
  if (q.sequential) {
    const d = metrics.cmPerSession.difference;
    metrics.cmPerSession.sequential = d === null ? null : confidenceSequence(d.estimate, d.se, t.cm.units + h.cm.units, level, deps.settings.sequentialPlannedUnits);
  }

  // Sample-ratio mismatch, per campaign: customers per arm against the designed holdout share.
  const perCampaign = new Map<string, { t: number; h: number }>();
  for (const m of head.moments) {
    let c = perCampaign.get(m.campaignId);
    if (!c) perCampaign.set(m.campaignId, (c = { t: 0, h: 0 }));
    if (m.holdout) c.h += m.units;
    else c.t += m.units;
  }
  const checks: SrmCheck[] = [];
  let earliest = to;
  for (const [id, c] of perCampaign) {
    const cmp = deps.campaign(id);
    if (!cmp) continue;
    earliest = Math.min(earliest, Math.max(from, cmp.createdAt));
    if (cmp.holdoutShare <= 0 || cmp.holdoutShare >= 1) continue;
    const r = srm([c.t, c.h], [1 - cmp.holdoutShare, cmp.holdoutShare]);
    checks.push({ campaignId: id, holdoutShareDesigned: cmp.holdoutShare, customers: { treatment: c.t, holdout: c.h }, chi2: r.chi2, pValue: r.pValue, mismatch: r.mismatch });
  }
  const mismatch = checks.some((c) => c.mismatch);
  const days = Math.max(0, (Math.min(to, deps.now) - earliest) / DAY);
  const s = deps.settings;
  const met = t.cm.units >= s.minCustomersPerArm && h.cm.units >= s.minCustomersPerArm && days >= s.minDays;
  const incrementalCm = scaled(metrics.cmPerSession.difference, t.cm.n);
  const headSe = metrics.cmPerSession.difference?.se ?? 0;
  const mde = headSe > 0 ? (zFor(level) + zFor(0.6)) * headSe : null;
  const reason: InsufficientReason | null = metrics.cmPerSession.reason === 'zero_baseline' ? null : metrics.cmPerSession.reason;
  // Without an interval there is nothing to judge, whatever the sample thresholds say (they may be set as low as 1).
  const verdict: Verdict = !met || incrementalCm === null ? 'insufficient_data' : mismatch ? 'sample_ratio_mismatch' : incrementalCm.upper < 0 ? 'loses' : incrementalCm.lower > 0 ? 'gains' : 'inconclusive';
  const warnings: string[] = [];
  for (const c of checks.filter((x) => x.mismatch)) {
    warnings.push(
      `SAMPLE RATIO MISMATCH in ${c.campaignId}: ${c.customers.holdout} of ${c.customers.treatment + c.customers.holdout} customers in the holdout, designed ${(c.holdoutShareDesigned * 100).toFixed(1)}% (chi² ${c.chi2.toFixed(1)}, p ${c.pValue.toExponential(2)}): assignment or logging is broken; do not trust this report`,
    );
  }
  if (!met) warnings.push(`Not enough data for a verdict: ${t.cm.units} / ${h.cm.units} customers (need ${s.minCustomersPerArm} per arm), ${days.toFixed(1)} days (need ${s.minDays})`);
  if (reason !== null) warnings.push(`No interval for CM per session: ${REASON_TEXT[reason]}`);

  const report: IncrementalityReport = {
    campaignId,
    arm: base.arm,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    level,
    arms: { treatment: t.summary(shown?.treatment ?? 0), holdout: h.summary(0) },
    metrics,
    incrementalCm,
    minimumDetectableEffect: mde,
    reason,
    srm: { mismatch, checks },
    sample: { minCustomersPerArm: s.minCustomersPerArm, minDays: s.minDays, days, met },
    verdict,
    warnings,
  };
  if (q.breakdowns === false) return report;

  // Cohort as of the window's start: fixed before treatment, so a fair subgroup.
  const [b, lastOrders, issuedOffers] = await breakdownReads!;
  const perCustomer = b.perCustomer;
  // Cohort: a customer attribute, so its moments come from one row per customer; outcomes are the headline's.
  const cohortKey = (subject: string) => cohortOf(lastOrders.get(subject) ?? null, from);
  const byCohort = { moments: momentsFrom(perCustomer!, (u) => cohortKey(u.subject)), outcomes: head.outcomes.map((u) => ({ ...u, key: cohortKey(u.subject) })) };
  // Outcome units come at the finest grain (placement, channel, offer); each dimension's unit is
  // the customer within one of its values, so they are summed up to it.
  const byPlacement = { moments: b.moments.placement, outcomes: b.outcomes.placement };
  const byChannel = { moments: b.moments.channel, outcomes: b.outcomes.channel };
  const byOffer = { moments: b.moments.offer_key, outcomes: b.outcomes.offer_key };
  const byOfferId = { moments: b.moments.offer, outcomes: b.outcomes.offer };
  report.breakdowns = {
    cohort: rows(splitDimension(byCohort, (k) => k ?? 'first_time'), level),
    placement: rows(splitDimension(byPlacement, (k) => k ?? '(none)'), level),
    channel: rows(splitDimension(byChannel, (k) => k ?? '(none)'), level),
    offer: rows(splitDimension(byOfferId, (k) => k ?? '(no offer)'), level),
    offerValue: rows(splitDimension(byOffer, (k) => k ?? '(no offer)'), level),
  };

  // Offer P&L from the same comparison: showed the offer vs would have shown it.
  // Offers shown in treatment: every session of an offer key issued each of its offers.
  const issued = byOffer.moments.filter((m) => !m.holdout && m.key !== null).reduce((a, m) => a + m.sessions * m.key!.split('+').length, 0);
  report.arms.treatment = t.summary(issued);
  const issuedBy = new Map(issuedOffers.map((o) => [o.offerId, o]));
  report.offers = [...splitDimension(byOfferId, (k) => k ?? '(no offer)').entries()]
    .filter(([k]) => k !== '(no offer)')
    .map(([offer, g]) => {
      const inc = (a: UnitSums, b: UnitSums) => scaled(difference(a, b, level), g.t.cm.n);
      const incOrders = inc(g.t.orders, g.h.orders);
      const cost = g.t.discount + g.t.extra;
      const ids = offer.split('+');
      // What became of the issues is per offer (alone or stacked): shown on the offer's own row,
      // not again on the rows of its stacks.
      const iss = ids.length === 1 ? (issuedBy.get(ids[0]!) ?? { issued: 0, redeemed: 0, expired: 0, breakage: 0, open: 0, openLiability: 0 }) : null;
      return {
        offer,
        // Each treatment session of this offer issued it once.
        issued: g.t.cm.n,
        redeemed: g.t.redemptions,
        discountCost: g.t.discount,
        otherOfferCost: g.t.extra,
        incrementalRevenue: inc(g.t.revenue, g.h.revenue),
        incrementalCm: inc(g.t.cm, g.h.cm),
        incrementalOrders: incOrders,
        reason: insufficientPair(g.t.cm, g.h.cm),
        costPerIncrementalOrder: incOrders !== null && incOrders.estimate > 0 ? cost / incOrders.estimate : null,
        breakage: iss ? iss.breakage : null,
        liabilityOutstanding: iss ? iss.openLiability : null,
        issues: iss ? { issued: iss.issued, redeemed: iss.redeemed, expired: iss.expired, open: iss.open } : null,
      };
    });
  return report;
}

/** The verdict rule as a readout: relative lift in CM per session ≥ the threshold in each of two consecutive 30-day windows. */
export interface Readout {
  threshold: number;
  windows: Array<{ from: string; to: string; relativeLift: Interval | null; incrementalCm: Interval | null; verdict: Verdict }>;
  verdict: 'pays' | 'does_not_pay' | 'loses' | 'insufficient_data';
  explanation: string;
}

/** Reads the last two 30-day windows up to `to` against the lift threshold. */
export async function readout(deps: ReportDeps, q: { campaignId?: string | null; to?: string; level?: number } = {}): Promise<Readout> {
  const to = q.to !== undefined ? Date.parse(q.to) : deps.now;
  const threshold = deps.settings.liftThreshold;
  const windows = [];
  for (const [a, b] of [
    [to - 60 * DAY, to - 30 * DAY],
    [to - 30 * DAY, to],
  ] as const) {
    const r = await incrementalityReport(deps, { campaignId: q.campaignId ?? null, from: new Date(a).toISOString(), to: new Date(b).toISOString(), level: q.level, breakdowns: false });
    windows.push({ from: r.from, to: r.to, relativeLift: r.metrics.cmPerSession.relativeLift, incrementalCm: r.incrementalCm, verdict: r.verdict });
  }
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  let verdict: Readout['verdict'];
  let explanation: string;
  if (windows.some((w) => w.verdict === 'insufficient_data' || w.verdict === 'sample_ratio_mismatch')) {
    verdict = 'insufficient_data';
    explanation = 'A window lacks the minimum sample or fails the sample-ratio check.';
  } else if (windows.some((w) => w.verdict === 'loses')) {
    verdict = 'loses';
    explanation = 'Incremental contribution margin is below zero (whole interval) in a window.';
  } else if (windows.every((w) => w.relativeLift !== null && w.relativeLift.estimate >= threshold && w.verdict === 'gains')) {
    verdict = 'pays';
    explanation = `CM per session beats the holdout by at least ${pct(threshold)} in both windows (${windows.map((w) => pct(w.relativeLift!.estimate)).join(', ')}), each significantly.`;
  } else {
    verdict = 'does_not_pay';
    explanation = `Lift below ${pct(threshold)} or not significant in a window (${windows.map((w) => (w.relativeLift ? pct(w.relativeLift.estimate) : 'n/a')).join(', ')}).`;
  }
  return { threshold, windows, verdict, explanation };
}
