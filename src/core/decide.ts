import type { z } from 'zod';
import type { CandidateSchema } from './response.js';
import type { CatalogSnapshot, CompiledCampaign, CompiledOffer } from './snapshot.js';
import type { Offer, OfferType } from './catalog.js';
import type { RuleInput } from './rules.js';
import type { Random } from './runtime.js';
import { utcDay } from './runtime.js';
import { counterKeys } from './counter-keys.js';
import { marginPctAfter, offerEconomics, priceBasket, round2, type Basket, type EconomicsDefaults, type OfferEconomics } from './economics.js';
import { inHoldout } from './holdout.js';
import { REASONS, type Reason, type ReasonCode } from './reasons.js';
import type { CompiledRule } from './rules.js';
import type { Channel } from './catalog.js';
import type { Consent, DecideRequest } from './request.js';
import type { Estimates, PolicyContext, PolicyStates } from './policy.js';
import { actionKey, valueShown } from './learn/actions.js';

/** What the engine knows about the customer (or anonymous visitor) a decision is for. */
export interface SubjectState {
  /** `c:<customerId>` or `a:<anonymousId>`: the unit caps count against. */
  subjectId: string;
  customerId: string | null;
  anonymousId: string | null;
  traits: Record<string, unknown>;
  consent: Consent;
  features: Record<string, unknown>;
  /** Past issuances of offers to this subject (for per-customer and frequency caps). */
  issuances: ReadonlyArray<{ offerId: string; issuedAt: number }>;
  /** The subject's open wallet entries (issued, unredeemed, unexpired): presented again, never issued twice. */
  wallet?: ReadonlyArray<HeldEntry>;
}

/** An offer already in the subject's wallet, as it was issued. */
export interface HeldEntry {
  issuanceId: string;
  offerId: string;
  /** The offer version it was issued under (its terms apply at redemption). */
  version: number;
  value: number | null;
  expiresAt: number;
  code: string | null;
}

/** Read access to the shared guardrail counters (a possibly stale view; commit re-checks). */
export interface CounterView {
  get(key: string): number;
}

export { counterKeys } from './counter-keys.js';

export interface DecideDefaults extends EconomicsDefaults {
  marginFloorPct: number;
  /** Program-level holdout: this share of customers gets no offer from any campaign (default 0). */
  globalHoldoutPct?: number;
}

/** The salt of the program-level holdout: one assignment for every campaign, channel and process. */
export const GLOBAL_HOLDOUT_SALT = 'offerpilot:global';

export interface DecideInput {
  request: DecideRequest;
  snapshot: CatalogSnapshot;
  subject: SubjectState;
  counters: CounterView;
  now: number;
  random: Random;
  defaults: DecideDefaults;
  /** Offers the commit step found exhausted since the view was read, with the reason. */
  exclusions?: ReadonlyMap<string, Reason>;
  /** Learned policy states by campaign (read only for a policy that reads state); the decision names the version used. */
  policies?: PolicyStates;
}

/** How one candidate fared (the shape the response and the log carry; see CandidateSchema). */
export type CandidateResult = z.infer<typeof CandidateSchema>;

/** An offer the decision chose, with the concrete value and what must be reserved. */
export interface ChosenOffer {
  offerId: string;
  version: number;
  name: string;
  type: OfferType;
  value: number | null;
  discount: number;
  cost: number;
  points: number;
  /** Expected cost reserved against budgets and daily liability, minor units. */
  reserve: number;
  score: number;
  expiresAt: number;
  /** Set when the offer is already in the subject's wallet: shown again, nothing reserved or issued. */
  held: HeldEntry | null;
  guard: {
    globalCap: number | null;
    budgetTotal: number | null;
    dailyLiability: number | null;
    perCustomer: number | null;
    frequency: { count: number; windowMs: number } | null;
    day: string;
  };
}

/** The full, pure result of a decision; nothing is written until it is committed. */
export interface Decision {
  campaign: { id: string; version: number } | null;
  subjectId: string;
  customerId: string | null;
  anonymousId: string | null;
  placement: string;
  channel: string;
  holdout: boolean;
  /** In the program-level holdout (then `holdout` is true too, whatever the campaign's own). */
  globalHoldout: boolean;
  personalized: boolean;
  policy: string | null;
  /** The version of the policy state the policy decided with; null when it read none. */
  policyVersion: number | null;
  /** Probability with which the policy chose this action (including "no offer"), as its `rank` reported it. */
  probability: number;
  /** What a learning policy logs to learn from and replay the decision (null for static ones). */
  trace: unknown;
  /** A learner's estimates for the chosen action and the runner-up (null when none). */
  estimates: Estimates | null;
  reasons: Reason[];
  chosen: ChosenOffer[];
  /** For holdout decisions: what treatment would have shown (for analysis, never shown). */
  counterfactual: ChosenOffer[];
  candidates: CandidateResult[];
  basket: { basis: Basket['basis']; subtotal: number; margin: number | null };
  decidedAt: number;
}

const MARKETING_CHANNELS = new Set(['email', 'sms', 'push']);

function pickCampaign(snapshot: CatalogSnapshot, req: DecideRequest, now: number): CompiledCampaign | null {
  for (const c of snapshot.campaigns) {
    if (req.campaignId !== undefined && c.campaign.id !== req.campaignId) continue;
    if (!c.campaign.placements.includes(req.placement)) continue;
    if (!c.campaign.channels.includes(req.channel)) continue;
    if (c.startsAt !== null && now < c.startsAt) continue;
    if (c.endsAt !== null && now >= c.endsAt) continue;
    return c;
  }
  return null;
}

function ruleInput(req: DecideRequest, subject: SubjectState, basket: Basket, personalized: boolean, now: number): RuleInput {
  const d = new Date(now);
  const date = utcDay(now);
  return {
    customer: personalized
      ? { id: subject.customerId, traits: subject.traits, features: subject.features }
      : { id: null, traits: {}, features: {} },
    cart: {
      subtotal: basket.basis === 'cart' ? basket.subtotal : 0,
      itemCount: basket.lines.reduce((n, l) => n + l.quantity, 0),
      skus: [...basket.skus],
      categories: [...basket.categories],
      lines: basket.lines.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPrice: l.unitPrice, category: l.category ?? '' })),
    },
    context: (req.context ?? {}) as Record<string, unknown>,
    channel: req.channel,
    placement: req.placement,
    now: { epochMs: now, hour: d.getUTCHours(), dayOfWeek: d.getUTCDay(), date },
  };
}

interface Scored {
  c: CompiledOffer;
  result: CandidateResult;
  offerId: string;
  action: string;
  priority: number;
  score: number;
  cost: number;
  econ: OfferEconomics;
  value: number;
  reserve: number;
  schedule?: number;
  held: HeldEntry | null;
}

// Reasons without a detail are shared, frozen constants: most candidates carry only those.
const PLAIN = Object.fromEntries(Object.keys(REASONS).map((code) => [code, Object.freeze({ code })])) as unknown as Record<ReasonCode, Reason>;
const reason = (code: ReasonCode, detail?: string): Reason => (detail === undefined ? PLAIN[code] : { code, detail });

/** Exclusions that depend only on the offer and the request's channel and placement, computed once per snapshot. */
function staticChecks(campaign: CompiledCampaign, channel: string, placement: string): Array<Reason | null> {
  const key = `${channel}|${placement}`;
  let checks = campaign.staticChecks.get(key);
  if (!checks) {
    checks = campaign.offers.map(({ offer: o }) => {
      if (o.status !== 'live') return reason('NOT_LIVE', o.status);
      if (!o.channels.includes(channel as Channel)) return reason('CHANNEL_MISMATCH', channel);
      if (o.placements.length > 0 && !o.placements.includes(placement)) return reason('PLACEMENT_MISMATCH', placement);
      return null;
    });
    campaign.staticChecks.set(key, checks);
  }
  return checks;
}

type RuleResult = ReturnType<CompiledRule['evaluate']>;

/**
 * Decides which offer(s) to show — or none — for one request. Pure: the result depends only
 * on the inputs, so the same inputs and seed give the same decision. Nothing is reserved
 * or logged here; the engine commits the result.
 */
export function decide(input: DecideInput): Decision {
  const { request: req, snapshot, subject, counters, now, defaults } = input;
  const personalized = subject.consent.personalization === true;
  // One object shape for every decision (no spreads): V8 keeps it fast.
  const finish = (r: Pick<Decision, 'campaign' | 'holdout' | 'globalHoldout' | 'policy' | 'policyVersion' | 'probability' | 'trace' | 'estimates' | 'reasons' | 'chosen' | 'counterfactual' | 'candidates' | 'basket'>): Decision => ({
    campaign: r.campaign,
    subjectId: subject.subjectId,
    customerId: subject.customerId,
    anonymousId: subject.anonymousId,
    placement: req.placement,
    channel: req.channel,
    holdout: r.holdout,
    globalHoldout: r.globalHoldout,
    personalized,
    policy: r.policy,
    policyVersion: r.policyVersion,
    probability: r.probability,
    trace: r.trace,
    estimates: r.estimates,
    reasons: r.reasons,
    chosen: r.chosen,
    counterfactual: r.counterfactual,
    candidates: r.candidates,
    basket: r.basket,
    decidedAt: now,
  });
  const campaign = pickCampaign(snapshot, req, now);
  if (!campaign) {
    return finish({
      campaign: null,
      holdout: false,
      globalHoldout: false,
      policy: null,
      policyVersion: null,
      probability: 1,
      trace: null,
      estimates: null,
      reasons: [reason('NO_CAMPAIGN', `${req.placement} on ${req.channel}`)],
      chosen: [],
      counterfactual: [],
      candidates: [],
      basket: { basis: req.cart?.lines.length ? 'cart' : 'expected', subtotal: 0, margin: null },
    });
  }
  const cmp = campaign.campaign;
  const model = cmp.model;
  const basket = priceBasket(req.cart?.lines, req.cart?.shipping, snapshot.products, model);
  const holdoutUnit = subject.customerId ?? subject.anonymousId ?? subject.subjectId;
  const globalPct = defaults.globalHoldoutPct ?? 0;
  const globalHoldout = globalPct > 0 && inHoldout(GLOBAL_HOLDOUT_SALT, holdoutUnit, globalPct);
  const holdout = globalHoldout || inHoldout(campaign.salt, holdoutUnit, cmp.holdoutPct);
  const channelConsent = !MARKETING_CHANNELS.has(req.channel) || subject.consent[req.channel as 'email' | 'sms' | 'push'] === true;
  let rules: RuleInput | null = null; // built on first use: many requests meet no rule
  const policy = campaign.policy;
  // One object per decision; the policy reads the same rule input the rules do.
  const context: PolicyContext = {
    input: () => (rules ??= ruleInput(req, subject, basket, personalized, now)),
    state: policy.readsState === true ? input.policies?.get(cmp.id) : undefined,
    basket,
    model,
    products: snapshot.products,
  };
  // A policy that chooses the value too sees every rung that passes the guardrails.
  const everyRung = policy.ranksRungs === true;
  const day = utcDay(now);
  // UTC midnight by arithmetic (JavaScript days are 86,400,000 ms): parsing a date string per decision showed in profiles.
  const dayStart = now - (((now % 86_400_000) + 86_400_000) % 86_400_000);
  // Only the campaign's documented response model sets the baseline: no trait or context key may.
  const baseline = model.baseConversionByPlacement[req.placement] ?? model.baseConversion;
  const held = heldByOffer(subject.wallet);

  // Offers sharing a rule text share one compiled rule; each distinct rule runs once per decision.
  const ruleResults = new Map<CompiledRule, RuleResult>();
  const statics = staticChecks(campaign, req.channel, req.placement);
  const candidates: CandidateResult[] = [];
  const eligible: Scored[] = [];
  for (let k = 0; k < campaign.offers.length; k++) {
    const c = campaign.offers[k]!;
    const o = c.offer;
    const result: CandidateResult = { offerId: o.id, version: o.version, eligible: false, selected: false, reasons: [], score: null, value: null };
    candidates.push(result);
    const fail = (code: ReasonCode, detail?: string) => void result.reasons.push(reason(code, detail));
    if (!channelConsent) { fail('CONSENT_CHANNEL', req.channel); continue; }
    const excludedStatically = statics[k];
    if (excludedStatically) { result.reasons.push(excludedStatically); continue; }
    if (c.startsAt !== null && now < c.startsAt) { fail('SCHEDULE_NOT_STARTED', o.startsAt); continue; }
    if (c.endsAt !== null && now >= c.endsAt) { fail('SCHEDULE_ENDED', o.endsAt); continue; }
    const excluded = input.exclusions?.get(o.id);
    if (excluded) { result.reasons.push(excluded); continue; }
    if (c.personalized && !personalized) { fail('CONSENT_REQUIRED'); continue; }
    if (c.rule) {
      let r = ruleResults.get(c.rule);
      if (r === undefined) {
        r = c.rule.evaluate(context.input());
        ruleResults.set(c.rule, r);
      }
      if (!r.ok) { fail('RULE_ERROR', r.error); continue; }
      if (!r.value) { fail('RULE_FAILED'); continue; } // the rule is in the offer version the candidate names
    }
    if (o.minCartValue !== undefined && basket.subtotal < o.minCartValue) {
      fail('MIN_CART_VALUE', `${basket.subtotal} < ${o.minCartValue}`);
      continue;
    }
    if (o.maxCartValue !== undefined && basket.subtotal > o.maxCartValue) {
      fail('MAX_CART_VALUE', `${basket.subtotal} > ${o.maxCartValue}`);
      continue;
    }
    // An entry the subject already holds was counted and reserved when it was issued: caps,
    // budget and daily liability do not apply again, and it is shown at its issued value.
    const h = held?.get(o.id) ?? null;
    // Per-customer guardrails read the subject's own history.
    const caps = o.caps;
    if (h === null && (caps.perCustomer !== undefined || c.frequencyWindowMs !== null)) {
      let ever = 0;
      let inWindow = 0;
      const since = c.frequencyWindowMs !== null ? now - c.frequencyWindowMs : Infinity;
      for (const iss of subject.issuances) {
        if (iss.offerId !== o.id) continue;
        ever++;
        if (iss.issuedAt > since) inWindow++;
      }
      if (caps.perCustomer !== undefined && ever >= caps.perCustomer) { fail('CUSTOMER_CAP', `${ever} of ${caps.perCustomer}`); continue; }
      if (caps.frequency && inWindow >= caps.frequency.count) {
        fail('FREQUENCY_CAP', `${inWindow} in ${caps.frequency.window}`);
        continue;
      }
    }
    if (h === null && caps.global !== undefined) {
      const issued = counters.get(c.issuedKey);
      if (issued >= caps.global) { fail('GLOBAL_CAP', `${issued} of ${caps.global}`); continue; }
    }
    // Value rungs: each must fit the margin floor, budget and daily liability; the policy scores the rest.
    const floor = o.marginFloorPct ?? cmp.marginFloorPct ?? defaults.marginFloorPct;
    const spent = o.budget.total !== undefined ? counters.get(c.spentKey) : 0;
    const today = o.budget.dailyLiability !== undefined ? counters.get(counterKeys.daily(o.id, day)) : 0;
    const schedule = h === null ? budgetSchedule(o.budget, spent, today, now, dayStart, campaign) : undefined;
    let best: Scored | null = null;
    let firstFailure: Reason | null = null;
    const rungs: Scored[] = [];
    // A held rung is kept even if the policy would now pick another: swapping it would mean a
    // second entry (twice the liability) or revoking what the customer was already shown.
    const ladder = h === null ? c.ladder : [h.value ?? c.ladder[0]!];
    for (let i = 0; i < ladder.length; i++) {
      const value = ladder[i]!;
      const econ = offerEconomics(o, value, basket, snapshot.products, defaults);
      if (!econ.applicable) { firstFailure ??= reason(econ.notApplicableReason!); continue; }
      // Content is shown, not redeemed; any other incentive worth nothing on this request is not issued.
      if (o.type !== 'content' && econ.benefit <= 0) { firstFailure ??= reason('NO_BENEFIT', `value ${value}`); continue; }
      if (econ.cost > 0 && floor > 0) {
        if (basket.margin === null) { firstFailure ??= reason('MARGIN_UNKNOWN', basket.unknownSkus.join(',')); continue; }
        const pct = marginPctAfter(basket, econ.cost, econ.priceReduction);
        if (pct < floor) { firstFailure ??= reason('MARGIN_FLOOR', `${fmtPct(pct)} < ${floor}% at value ${value}`); continue; }
      }
      const reserve = h === null ? reserveFor(econ.cost, model.redemptionRate) : 0;
      if (h === null && o.budget.total !== undefined && spent + reserve > o.budget.total) {
        firstFailure ??= reason('BUDGET_EXHAUSTED', `${spent} + ${reserve} > ${o.budget.total}`);
        continue;
      }
      if (h === null && o.budget.dailyLiability !== undefined && today + reserve > o.budget.dailyLiability) {
        firstFailure ??= reason('DAILY_LIABILITY', `${today} + ${reserve} > ${o.budget.dailyLiability}`);
        continue;
      }
      const rung = h === null ? i : Math.max(0, c.ladder.indexOf(value));
      const action = h === null ? c.rungKeys[i]! : actionKey(o.id, shownValue(o.type, h, value));
      const score = policy.score({ offer: o, action, value, rung, economics: econ, basket, model, baseline, context });
      const item: Scored = { c, result, offerId: o.id, action, priority: o.priority, score, cost: econ.cost, econ, value, reserve, held: h };
      if (schedule !== undefined) item.schedule = schedule;
      if (everyRung) rungs.push(item);
      if (!best || score > best.score) best = item;
    }
    if (!best) { result.reasons.push(firstFailure ?? reason('NOT_PROFITABLE')); continue; }
    result.eligible = true;
    result.score = round2(best.score);
    result.value = shownValue(o.type, h, best.value);
    if (h !== null) result.reasons.push(reason('IN_WALLET', h.issuanceId));
    result.reasons.push(reason('ELIGIBLE'));
    if (everyRung) eligible.push(...rungs);
    else eligible.push(best);
  }

  const { ranked, probability, trace, estimates } = policy.rank(eligible, input.random, context);
  const picks: Scored[] = [];
  let totalCost = 0;
  let totalReduction = 0;
  for (const s of ranked) {
    const o = s.c.offer;
    // Another rung of an offer already picked: one value per offer.
    if (everyRung && picks.some((p) => p.offerId === s.offerId)) continue;
    if (!policy.worthShowing(s)) { s.result.reasons.push(reason('NOT_PROFITABLE')); continue; }
    if (picks.length >= cmp.maxOffers) { s.result.reasons.push(reason('OUTSCORED')); continue; }
    const clash = picks.find(
      (p) => p.c.offer.exclusive || o.exclusive || (o.stackingGroup !== undefined && p.c.offer.stackingGroup === o.stackingGroup),
    );
    if (clash) { s.result.reasons.push(reason('STACKING_CONFLICT', clash.offerId)); continue; }
    if (picks.length > 0 && totalCost + s.cost > 0) {
      // Combined offers must still clear the strictest margin floor among them.
      const floor = Math.max(...[...picks, s].map((p) => p.c.offer.marginFloorPct ?? cmp.marginFloorPct ?? defaults.marginFloorPct));
      const pct = marginPctAfter(basket, totalCost + s.cost, totalReduction + s.econ.priceReduction);
      if (floor > 0 && pct < floor) { s.result.reasons.push(reason('MARGIN_FLOOR', `${fmtPct(pct)} < ${floor}% combined`)); continue; }
    }
    picks.push(s);
    if (everyRung) {
      // The rung the policy chose is the candidate's value and score.
      s.result.value = shownValue(o.type, s.held, s.value);
      s.result.score = round2(s.score);
    }
    totalCost += s.cost;
    totalReduction += s.econ.priceReduction;
    s.result.selected = !holdout;
    s.result.reasons.push(reason(holdout ? 'HOLDOUT_CONTROL' : 'SELECTED'));
  }

  if (everyRung) {
    // Eligible offers the policy did not choose say so (a learner ranks only what it picked).
    const picked = new Set(picks.map((p) => p.offerId));
    const detail = picks.length ? `policy chose ${picks.map((p) => p.action).join(', ')}` : 'policy chose no offer';
    for (const c of candidates) if (c.eligible && !picked.has(c.offerId) && c.reasons[c.reasons.length - 1]?.code === 'ELIGIBLE') c.reasons.push(reason('OUTSCORED', detail));
  }
  const chosen = picks.map((s): ChosenOffer => {
    const o = s.c.offer;
    return {
      offerId: o.id,
      version: o.version,
      name: o.name,
      type: o.type,
      value: s.result.value,
      discount: s.econ.discount,
      cost: s.econ.cost,
      points: s.econ.points,
      reserve: s.reserve,
      score: round2(s.score),
      expiresAt: s.held !== null ? s.held.expiresAt : s.c.endsAt !== null ? Math.min(now + s.c.expiresAfterMs, s.c.endsAt) : now + s.c.expiresAfterMs,
      held: s.held,
      guard: {
        globalCap: o.caps.global ?? null,
        budgetTotal: o.budget.total ?? null,
        dailyLiability: o.budget.dailyLiability ?? null,
        perCustomer: o.caps.perCustomer ?? null,
        frequency: o.caps.frequency && s.c.frequencyWindowMs !== null ? { count: o.caps.frequency.count, windowMs: s.c.frequencyWindowMs } : null,
        day,
      },
    };
  });
  const reasons: Reason[] = [];
  if (!channelConsent) reasons.push(reason('CONSENT_CHANNEL', req.channel));
  if (holdout) reasons.push(reason('HOLDOUT', globalHoldout ? `program-level ${globalPct}%` : `${cmp.holdoutPct}%`));
  else if (chosen.length === 0 && channelConsent) reasons.push(reason('NO_ELIGIBLE_OFFER'));
  return finish({
    campaign: { id: cmp.id, version: cmp.version },
    holdout,
    globalHoldout,
    policy: policy.id,
    policyVersion: context.state?.version ?? null,
    // The policy's own number, unchanged: it accounts for "no offer" too (see Policy.rank).
    probability,
    trace: trace ?? null,
    estimates: estimates ?? null,
    reasons,
    chosen: holdout ? [] : chosen,
    counterfactual: holdout ? chosen : [],
    candidates,
    basket: { basis: basket.basis, subtotal: basket.subtotal, margin: basket.margin },
  });
}

/** The subject's open entries by offer; of several (issued before entries were re-presented), the first to expire. */
function heldByOffer(wallet: ReadonlyArray<HeldEntry> | undefined): Map<string, HeldEntry> | null {
  if (wallet === undefined || wallet.length === 0) return null;
  const out = new Map<string, HeldEntry>();
  for (const e of wallet) {
    const prev = out.get(e.offerId);
    if (!prev || e.expiresAt < prev.expiresAt || (e.expiresAt === prev.expiresAt && e.issuanceId < prev.issuanceId)) out.set(e.offerId, e);
  }
  return out;
}

/**
 * Budget left over time left in the offer's pacing period (see RankItem.schedule); with both a
 * daily liability and a total budget over a campaign with an end, the tighter of the two.
 */
function budgetSchedule(b: Offer['budget'], spent: number, today: number, now: number, dayStart: number, c: CompiledCampaign): number | undefined {
  let out: number | undefined;
  if (b.dailyLiability !== undefined && b.dailyLiability > 0) {
    out = Math.max(0, 1 - today / b.dailyLiability) / Math.max(1e-6, 1 - (now - dayStart) / 86_400_000);
  }
  if (b.total !== undefined && b.total > 0 && c.startsAt !== null && c.endsAt !== null && c.endsAt > c.startsAt) {
    const r = Math.max(0, 1 - spent / b.total) / Math.max(1e-6, (c.endsAt - now) / (c.endsAt - c.startsAt));
    out = out === undefined ? r : Math.min(out, r);
  }
  return out;
}

/**
 * Expected cost to reserve, in whole minor units, rounded up so a small cost still counts
 * against the budget — but not past a whole number that floating point missed (100 × 0.07).
 */
export function reserveFor(cost: number, redemptionRate: number): number {
  const exact = cost * redemptionRate;
  const nearest = Math.round(exact);
  return Math.abs(exact - nearest) <= 1e-9 * Math.max(1, exact) ? nearest : Math.ceil(exact);
}

/** The value a candidate shows: the held entry's, none for types without one, else the rung. */
function shownValue(type: OfferType, held: HeldEntry | null, value: number): number | null {
  if (held !== null) return held.value;
  return valueShown(type, value);
}


function fmtPct(x: number): string {
  return Number.isFinite(x) ? `${round2(x)}%` : 'no net revenue';
}
