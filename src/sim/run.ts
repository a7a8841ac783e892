import { CampaignSpecSchema, OfferCreateSchema, type Offer } from '../core/catalog.js';
import { reserveFor } from '../core/decide.js';
import type { ReasonCode } from '../core/reasons.js';
import { cohortOf } from '../customers/features.js';
import { cappedChoice, type DayTotals } from './capped-oracle.js';
import { ResponseModel, type ShownOffer, type Truth } from './model.js';
import { COHORTS, type Scenario, type SimCohort } from './scenario.js';
import { buildShop, runSpan, sessions as sessionStream, type SimSession, type SimShop } from './shop.js';
import type { ShopClient } from './client.js';

const DAY = 86_400_000;
const CAMPAIGN_ID = 'cmp_sim';

/** Running sums for one policy over a set of sessions (expected values from the true model). */
export interface PolicyStats {
  sessions: number;
  /** Expected orders: Σ P(convert). */
  conversions: number;
  revenue: number;
  offerCost: number;
  cm: number;
  /** Σ (E[CM | policy's action] − E[CM | no offer]). */
  incremental: number;
  /** Sessions in which the policy showed an offer. */
  offered: number;
}

/** Per-session averages of PolicyStats. */
export interface PolicySummary {
  sessions: number;
  conversion: number;
  aov: number;
  offerRate: number;
  discountCostPerSession: number;
  cmPerSession: number;
  incrementalCmPerSession: number;
}

/** What the engine's run measured from sampled outcomes, against its own holdout. */
export interface Measured {
  treated: { sessions: number; orders: number; cmPerSession: number };
  holdout: { sessions: number; orders: number; cmPerSession: number };
  /** Treated − holdout CM/session, with a 95% interval half-width. */
  incrementalCmPerSession: number;
  ci95: number;
  /** The true value the measurement estimates: mean over treated sessions of E[CM | action] − E[CM | none]. */
  trueIncrementalCmPerSession: number;
}

/** Incremental CM/session as a share of an oracle's on the same sessions; null when the oracle gains nothing there. */
export interface OracleShares {
  all: number | null;
  window: number | null;
}

export interface PolicyReport {
  id: string;
  label: string;
  kind: 'baseline' | 'constant' | 'oracle' | 'engine' | 'budget_baseline';
  /** Every session of the run. */
  all: PolicySummary;
  /** The last `SimReport.window.sessions` sessions. */
  window: PolicySummary;
  /** The engine's treated (non-holdout) sessions: where the engine is compared with everything else. */
  treated: PolicySummary;
  /** The engine's treated sessions among the last window. */
  treatedWindow: PolicySummary;
  byCohort: Record<SimCohort, PolicySummary>;
  /**
   * Incremental CM/session as a share of each oracle's. The engine (and the FCFS baseline, which
   * spends only where the engine may) on its treated sessions, every other policy on all sessions.
   */
  ofOracle: { observable: OracleShares; true: OracleShares; withinCaps?: OracleShares };
  measured?: Measured;
}

/** One UTC day of a budgeted offer under the engine. */
export interface BudgetDay {
  day: string;
  sessions: number;
  /** Fresh issuances of the offer (not re-shown from a wallet). */
  issued: number;
  /** Liability reserved that day: what the daily cap bounds. */
  liability: number;
  cap: number;
  /** Expected cost of the offer actually redeemed (Σ P(buy) × cost over sessions shown it). */
  expectedCost: number;
  /** When the cap first refused the offer, as a fraction of the day; null if it never did. */
  exhaustedAt: number | null;
}

/** A budgeted offer: the engine's daily spending against the cap, and first-come-first-served with the same cap. */
export interface BudgetReport {
  offerId: string;
  dailyCap: number;
  days: BudgetDay[];
  /** Largest day's liability over the cap (≤ 1: never above). */
  maxShareOfCap: number;
  /** Fraction of the day at which the cap first bound: median and minimum over days, a day that never bound counting as 1. */
  exhaustedAt: { median: number; min: number; daysExhausted: number };
  engine: { incrementalCm: number; liability: number; expectedCost: number };
  /** The offer at its best blanket value to every treated session in arrival order while the day's cap has room. */
  fcfs: { value: number | null; policyId: string; incrementalCm: number; liability: number; expectedCost: number; exhaustedAt: { median: number; min: number; daysExhausted: number } };
}

/**
 * A learning policy's claims against the truth: over the treated sessions where it chose an offer
 * and said what it expected, its mean estimated incremental CM per offer (uplift less cost) and
 * the mean true one. A policy that picks by noisy estimates overstates what it picked (the
 * winner's curse): the gap is how much of its own claim to believe.
 */
export interface Calibration {
  offers: number;
  estimatedPerOffer: number;
  truePerOffer: number;
}

function calibrated(c: { offers: number; estimated: number; truth: number }): Calibration {
  return { offers: c.offers, estimatedPerOffer: c.offers ? c.estimated / c.offers : 0, truePerOffer: c.offers ? c.truth / c.offers : 0 };
}

export interface SimReport {
  scenario: string;
  seed: number;
  sessions: number;
  client: 'in-process' | 'http';
  /** The campaign's policy the engine ran. */
  policy: string;
  /** The trailing window every policy is also reported over. */
  window: { sessions: number; firstIndex: number };
  elapsedMs: number;
  sessionsPerSec: number;
  policies: PolicyReport[];
  /** The observable oracle's choice per bucket (cohort|placement|channel|device|cart) and how many sessions fell in it. */
  /** Per bucket: the oracle's action and both policies' summed true incremental CM (minor units). */
  observableOracle: {
    buckets: number;
    offerBuckets: number;
    /** byAction: every action's summed true incremental CM in the bucket, had it been shown to all of the bucket's sessions. */
    actions: Record<string, { action: string; sessions: number; oracleIncremental: number; engineIncremental: number; engineChose: Record<string, number>; byAction: Record<string, number> }>;
  };
  budgets: BudgetReport[];
  /** The engine's estimates of the offers it chose against their truth (null: its policy gives none, e.g. `static`). */
  calibration: { all: Calibration; window: Calibration; byCohort: Record<SimCohort, Calibration> } | null;
  engine: {
    decisions: number;
    holdoutShare: number;
    offerRate: number;
    redemptions: number;
    redemptionFailures: Record<string, number>;
    /** Redemptions where the engine's discount differed from the model's (should be 0). */
    discountMismatches: number;
  };
}

export interface SimulateOptions {
  sessions: number;
  seed?: number;
  /** Sessions in flight at once against the engine. */
  concurrency?: number;
  /** Size of the trailing window reported besides all sessions (default 10,000). */
  window?: number;
  /** Replaces the scenario campaign's `policy` (the engine validates it), e.g. `{ type: 'static' }`. */
  policy?: Record<string, unknown>;
  onProgress?: (done: number, total: number) => void;
  /** Called once per session, in session order, with what the engine did and the truth (diagnostics: `simulate --dump`). */
  onSession?: (s: SessionRecord) => void;
}

/**
 * One session as the simulator saw it: what the engine decided and what it was worth under the
 * true model — the latent segment and true purchase probabilities no policy sees. For diagnosing
 * a learner (which shoppers got what, against what they were truly worth), never for deciding.
 */
export interface SessionRecord {
  index: number;
  decisionId: string;
  holdout: boolean;
  /** The observable oracle's bucket (cohort|placement|channel|device|cart value). */
  bucket: string;
  segment: string;
  /** What the engine showed ("none", or action keys joined by "+"). */
  action: string;
  /** True purchase probability under what was shown, and without an offer. */
  p: number;
  p0: number;
  bought: boolean;
  /** True incremental CM (minor units) of what was shown, and of each option the engine may give this shopper (see excludedHere) had it been shown instead. */
  incremental: number;
  options: Record<string, number>;
  /** The engine's own estimate of what it showed, when a learning policy chose an offer outside the holdout (see SimDecision.estimated). */
  estimated?: number;
}

const emptyStats = (): PolicyStats => ({ sessions: 0, conversions: 0, revenue: 0, offerCost: 0, cm: 0, incremental: 0, offered: 0 });
const add = (s: PolicyStats, t: Truth, none: Truth, offered: boolean) => {
  s.sessions++;
  s.conversions += t.p;
  s.revenue += t.p * t.order.revenue;
  s.offerCost += t.p * t.order.offerCost;
  s.cm += t.ecm;
  s.incremental += t.ecm - none.ecm;
  if (offered) s.offered++;
};
const summarize = (s: PolicyStats): PolicySummary => ({
  sessions: s.sessions,
  conversion: s.sessions ? s.conversions / s.sessions : 0,
  aov: s.conversions ? s.revenue / s.conversions : 0,
  offerRate: s.sessions ? s.offered / s.sessions : 0,
  discountCostPerSession: s.sessions ? s.offerCost / s.sessions : 0,
  cmPerSession: s.sessions ? s.cm / s.sessions : 0,
  incrementalCmPerSession: s.sessions ? s.incremental / s.sessions : 0,
});

/** A policy's sums over every slice of the sessions the report shows. */
interface Acc {
  all: PolicyStats;
  window: PolicyStats;
  treated: PolicyStats;
  treatedWindow: PolicyStats;
  byCohort: Record<SimCohort, PolicyStats>;
}
/** Which slices a session belongs to. */
interface Where {
  cohort: SimCohort;
  inWindow: boolean;
  treated: boolean;
}
const emptyAcc = (): Acc => ({
  all: emptyStats(),
  window: emptyStats(),
  treated: emptyStats(),
  treatedWindow: emptyStats(),
  byCohort: Object.fromEntries(COHORTS.map((c) => [c, emptyStats()])) as Record<SimCohort, PolicyStats>,
});
const addAcc = (a: Acc, w: Where, t: Truth, none: Truth, offered: boolean) => {
  add(a.all, t, none, offered);
  add(a.byCohort[w.cohort], t, none, offered);
  if (w.inWindow) add(a.window, t, none, offered);
  if (w.treated) {
    add(a.treated, t, none, offered);
    if (w.inWindow) add(a.treatedWindow, t, none, offered);
  }
};
const mergeStats = (into: PolicyStats, from: PolicyStats) => {
  for (const k of Object.keys(into) as Array<keyof PolicyStats>) into[k] += from[k];
};
const mergeAcc = (into: Acc, from: Acc) => {
  mergeStats(into.all, from.all);
  mergeStats(into.window, from.window);
  mergeStats(into.treated, from.treated);
  mergeStats(into.treatedWindow, from.treatedWindow);
  for (const c of COHORTS) mergeStats(into.byCohort[c], from.byCohort[c]);
};

/** Upper edges of the cart-value buckets, minor units: doubling from 25.00 to 400.00. */
const CART_EDGES = [2500, 5000, 10_000, 20_000, 40_000];
/** The observable cart-value bucket of a session: a log-scale band of its subtotal, or "no cart" where decide sees none. */
export function cartBucket(session: Pick<SimSession, 'hasCart' | 'lines'>): string {
  if (!session.hasCart) return 'no cart';
  const subtotal = session.lines.reduce((a, l) => a + l.unitPrice * l.quantity, 0);
  const i = CART_EDGES.findIndex((e) => subtotal < e);
  if (i === 0) return `<${CART_EDGES[0]! / 100}`;
  if (i === -1) return `>=${CART_EDGES[CART_EDGES.length - 1]! / 100}`;
  return `${CART_EDGES[i - 1]! / 100}-${CART_EDGES[i]! / 100}`;
}

const actionKey = (o: ShownOffer | null) => (o === null ? 'none' : `${o.offer.id}${o.value === null ? '' : `@${o.value}`}`);
const share = (x: number, oracle: number): number | null => (oracle > 0 ? x / oracle : null);
const median = (xs: number[]) => {
  if (xs.length === 0) return 1;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** Exhaustion over days: a day the cap never bound counts as exhausted at its end (1). */
const exhaustion = (days: Array<number | null>) => {
  const xs = days.map((x) => x ?? 1);
  return { median: median(xs), min: xs.length ? Math.min(...xs) : 1, daysExhausted: days.filter((x) => x !== null).length };
};

/** Mean and variance, one value at a time (Welford). */
class Moments {
  n = 0;
  mean = 0;
  private m2 = 0;
  push(x: number): void {
    this.n++;
    const d = x - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (x - this.mean);
  }
  get variance(): number {
    return this.n > 1 ? this.m2 / (this.n - 1) : 0;
  }
}

/** The scenario's offers as the engine stores them (parsed the same way), by id. */
export function scenarioOffers(s: Scenario): Map<string, Offer> {
  const now = new Date(0).toISOString();
  return new Map(
    s.offers.map((raw) => {
      const o = OfferCreateSchema.parse(raw);
      return [o.id!, { ...o, id: o.id!, status: 'live', version: 1, createdAt: now, updatedAt: now } as Offer];
    }),
  );
}

/** The campaign the scenario runs. */
export function scenarioCampaign(s: Scenario) {
  const c = (s.campaign ?? {}) as Record<string, unknown>;
  return {
    id: CAMPAIGN_ID,
    status: 'live',
    name: `${s.name} simulation`,
    placements: s.placements.map((p) => p.name),
    offers: s.offers.map((o) => (o as { id: string }).id),
    ...c,
  };
}

/** Every (offer, value) the scenario's campaign could show at a session's placement and channel. */
function candidates(c: { placements: string[]; channels: string[]; offers: string[] }, offers: Map<string, Offer>, session: SimSession): ShownOffer[] {
  if (!c.placements.includes(session.placement) || !c.channels.includes(session.channel)) return [];
  const out: ShownOffer[] = [];
  for (const id of c.offers) {
    const o = offers.get(id);
    if (!o || !o.channels.includes(session.channel) || (o.placements.length > 0 && !o.placements.includes(session.placement))) continue;
    const values = o.valueLadder ?? (o.value !== undefined ? [o.value] : [null]);
    for (const v of values) out.push({ offer: o, value: v });
  }
  return out;
}

/**
 * Refusals that are facts of the session and the catalog, not of what anyone was given before:
 * a yardstick is held to them (caps, budgets and the wallet depend on the policy's own history,
 * so they are not; the capped oracle models the daily cap itself).
 */
const SESSION_EXCLUSIONS: ReadonlySet<string> = new Set<ReasonCode>([
  'NOT_LIVE', 'CHANNEL_MISMATCH', 'PLACEMENT_MISMATCH', 'SCHEDULE_NOT_STARTED', 'SCHEDULE_ENDED', 'CONSENT_CHANNEL', 'CONSENT_REQUIRED',
  'RULE_FAILED', 'RULE_ERROR', 'MIN_CART_VALUE', 'MAX_CART_VALUE', 'SCOPE_NOT_IN_CART', 'BUNDLE_INCOMPLETE', 'NO_BENEFIT', 'MARGIN_UNKNOWN', 'MARGIN_FLOOR',
]);

/**
 * Whether the engine's reasons for not choosing an offer rule it out for this session whatever
 * the policy: it never became eligible (a margin floor missed only in combination with another
 * pick comes after ELIGIBLE, and does not count).
 */
function excludedHere(codes: readonly string[] | undefined): boolean {
  return codes !== undefined && !codes.includes('ELIGIBLE') && codes.some((c) => SESSION_EXCLUSIONS.has(c));
}

/** Constant policies: nothing for anyone, and each offer at each value for everyone it may be given to (see excludedHere). */
function constantPolicies(offers: Map<string, Offer>): Array<{ id: string; label: string; offerId: string | null; value: number | null }> {
  const out: Array<{ id: string; label: string; offerId: string | null; value: number | null }> = [{ id: 'none', label: 'no offer', offerId: null, value: null }];
  for (const o of offers.values()) {
    const values = o.valueLadder ?? (o.value !== undefined ? [o.value] : [null]);
    for (const v of values) out.push({ id: `all:${o.id}${v === null ? '' : `@${v}`}`, label: `${o.name}${values.length > 1 ? ` @${v}` : ''} to all`, offerId: o.id, value: v });
  }
  return out;
}

/** The catalog the simulator imports: the shop's products, the scenario's offers and campaign. */
export function simCatalog(s: Scenario, shop: SimShop) {
  return {
    products: shop.products.map(({ weight: _w, ...p }) => p),
    offers: s.offers.map((o) => ({ status: 'live', ...(o as object) })),
    campaigns: [scenarioCampaign(s)],
  };
}

/** Order history for customers past their first order, as the shop would import it. */
function historyEvents(shop: SimShop, start: number) {
  const events: Array<Record<string, unknown>> = [];
  const bySku = new Map(shop.products.map((p) => [p.sku, p]));
  const skus = [...bySku.keys()];
  for (const c of shop.customers) {
    c.history.forEach((daysAgo, k) => {
      const sku = skus[(Number(c.id.slice(4)) * 7 + k * 13) % skus.length]!;
      events.push({
        id: `hist-${c.id}-${k}`,
        type: 'order',
        customerId: c.id,
        occurredAt: new Date(start - Math.round(daysAgo * DAY)).toISOString(),
        orderId: `hist-${c.id}-${k}`,
        lines: [{ sku, quantity: 1, unitPrice: bySku.get(sku)!.price }],
        shipping: 0,
        discount: 0,
      });
    });
  }
  return events;
}

/** The scenario with its campaign's `policy` replaced (the engine validates it when the campaign is imported). */
export function withPolicy(s: Scenario, policy: Record<string, unknown> | undefined): Scenario {
  if (policy === undefined) return s;
  return { ...s, campaign: { ...((s.campaign ?? {}) as object), policy } };
}

/**
 * Runs a scenario: builds the shop, imports its catalog and history into the engine through
 * `client`, then for each session asks the engine to decide, samples the outcome from the true
 * model and reports it (impression, redemption, order) as a shop would. Every policy — no offer,
 * each constant offer, the two oracles (the best action per session under the true model, and
 * the best action per bucket of what the engine observes), FCFS spending of a daily budget, and
 * the engine's — is scored on the same sessions, so differences are the policies', not the dice's.
 */
export async function simulate(baseScenario: Scenario, client: ShopClient, opts: SimulateOptions): Promise<SimReport> {
  const scenario = withPolicy(baseScenario, opts.policy);
  const seed = opts.seed ?? 1;
  const concurrency = opts.concurrency ?? 16;
  const total = opts.sessions;
  const windowSize = Math.min(opts.window ?? 10_000, total);
  const windowFrom = total - windowSize;
  const started = performance.now();
  const shop = buildShop(scenario, seed);
  const model = new ResponseModel(scenario, shop.products);
  const offers = scenarioOffers(scenario);
  const constants = constantPolicies(offers);
  // The policy is left to the engine to validate on import: the simulator only needs where the campaign shows what.
  const { id: _id, status: _status, policy: policyConfig, ...campaignSpec } = scenarioCampaign(scenario) as ReturnType<typeof scenarioCampaign> & { policy?: unknown };
  const campaign = CampaignSpecSchema.parse(campaignSpec);
  const policyName = String((policyConfig as { type?: unknown } | undefined)?.type ?? 'contextual');
  const redemptionRate = campaign.model.redemptionRate;

  await client.importCatalog(simCatalog(scenario, shop));
  const start = client.now();
  const history = historyEvents(shop, start);
  for (let i = 0; i < history.length; i += 1000) await client.events(history.slice(i, i + 1000));
  // The engine's cohort comes from the orders it has been told of: the history, then the run's orders once flushed.
  const lastOrder = new Map<string, number>();
  for (const c of shop.customers) if (c.history.length) lastOrder.set(c.id, start - Math.round(Math.min(...c.history) * DAY));

  const accs = new Map<string, Acc>();
  const accFor = (id: string) => {
    let a = accs.get(id);
    if (!a) accs.set(id, (a = emptyAcc()));
    return a;
  };
  // Observable oracle: streaming sums per (bucket, action); the best action per bucket is chosen at the end.
  const buckets = new Map<string, Map<string, Acc>>();
  // The engine per bucket: where it gains or loses against the observable oracle.
  const engineBuckets = new Map<string, Acc>();
  // What the engine showed per bucket (treated sessions): which actions it favours where it loses.
  const engineChose = new Map<string, Record<string, number>>();
  // Sums for the calibration of the engine's estimates (see Calibration).
  const calSums = () => ({ offers: 0, estimated: 0, truth: 0 });
  const cal = { all: calSums(), window: calSums(), byCohort: Object.fromEntries(COHORTS.map((c) => [c, calSums()])) as Record<SimCohort, ReturnType<typeof calSums>> };
  const engineIn = (bucket: string) => {
    let a = engineBuckets.get(bucket);
    if (!a) engineBuckets.set(bucket, (a = emptyAcc()));
    return a;
  };
  const treated = new Moments();
  const held = new Moments();
  let treatedOrders = 0;
  let heldOrders = 0;
  let decisions = 0;
  let holdouts = 0;
  let offeredCount = 0;
  let redemptions = 0;
  let mismatches = 0;
  const failures: Record<string, number> = {};

  // Budgeted offers: the engine's liability per UTC day, and FCFS at every rung (the best blanket rung is reported).
  const budgeted = [...offers.values()].filter((o) => o.budget.dailyLiability !== undefined && campaign.offers.includes(o.id));
  type Day = Omit<BudgetDay, 'day'>;
  const engineDays = new Map<string, Map<number, Day>>(budgeted.map((o) => [o.id, new Map()]));
  const dayOf = (m: Map<number, Day>, day: number, cap: number) => {
    let d = m.get(day);
    if (!d) m.set(day, (d = { sessions: 0, issued: 0, liability: 0, cap, expectedCost: 0, exhaustedAt: null }));
    return d;
  };
  // The observable oracle within the daily caps (see capped-oracle.ts): per day and bucket each
  // action's totals over treated sessions, and the treated sessions to score its choices on.
  const caps = new Map(budgeted.map((o) => [o.id, o.budget.dailyLiability!]));
  const cappedDays = new Map<number, DayTotals>();
  const cappedSessions: Array<{ w: Where; bucket: string; day: number; none: Truth; keys: string[]; truths: Truth[] }> = [];
  const fcfs = budgeted.flatMap((o) =>
    constants.filter((c) => c.offerId === o.id).map((c) => ({ ...c, cap: o.budget.dailyLiability!, id: `fcfs:${c.id.slice(4)}`, spent: new Map<number, number>(), exhausted: new Map<number, number | null>(), liability: 0, expectedCost: 0 })),
  );

  let outbox: Array<Record<string, unknown>> = [];
  let pendingOrders: Array<[string, number]> = [];
  const flushEvents = async (min: number): Promise<boolean> => {
    if (outbox.length < min || outbox.length === 0) return false;
    const batch = outbox;
    const orders = pendingOrders;
    outbox = [];
    pendingOrders = [];
    for (let i = 0; i < batch.length; i += 1000) await client.events(batch.slice(i, i + 1000));
    for (const [id, at] of orders) if (at > (lastOrder.get(id) ?? -Infinity)) lastOrder.set(id, at);
    return true;
  };

  const runSession = async (session: SimSession) => {
    const none = model.truth(session, []);
    const options = candidates(campaign, offers, session);
    const shownAlone = options.map((o) => model.truth(session, [o]));
    const cust = session.customer;
    const now = client.now();
    const cohort = cohortOf(lastOrder.get(cust.id) ?? null, now);
    const bucket = [cohort, session.placement, session.channel, cust.device, cartBucket(session)].join('|');

    // The engine, through its public API.
    const at = (ms: number) => new Date(now + ms).toISOString();
    const req: Record<string, unknown> = {
      customerId: cust.id,
      placement: session.placement,
      channel: session.channel,
      context: { device: cust.device },
      // The simulated shop holds personalization consent for its customers.
      consent: { personalization: true },
      ...(session.hasCart ? { cart: { lines: session.lines, shipping: scenario.shippingFee } } : {}),
    };
    const d = await client.decide(req);
    // The yardsticks (oracles, blankets, FCFS) treat an offer the engine may not give this shopper
    // as "no offer": otherwise they set a bar no policy can reach (see excludedHere).
    const allowed = options.map((o) => !excludedHere(d.refusals[o.offer.id]));
    const truths = shownAlone.map((t, i) => (allowed[i] ? t : none));
    decisions++;
    if (d.holdout) holdouts++;
    const shown: ShownOffer[] = d.offers.flatMap((o) => {
      const offer = offers.get(o.offerId);
      return offer ? [{ offer, value: o.value }] : [];
    });
    if (shown.length) offeredCount++;
    const t = shown.length ? model.truth(session, shown) : none;

    const sid = `sim-s${session.index}`;
    outbox.push({ id: `${sid}-start`, type: 'session_start', customerId: cust.id, sessionId: sid, occurredAt: at(0), placement: session.placement, channel: session.channel });
    outbox.push({ id: `${sid}-imp`, type: 'impression', customerId: cust.id, sessionId: sid, occurredAt: at(1), decisionId: d.decisionId, ...(shown[0] ? { offerId: shown[0].offer.id } : {}) });
    const bought = session.u < t.p;
    let cm = 0;
    if (bought) {
      const orderId = `sim-o${session.index}`;
      let discount = 0;
      const tokens: string[] = [];
      if (shown.length && t.order.applied) {
        const r = await client.redeem({ orderId, customerId: cust.id, channel: session.channel, tokens: d.offers.flatMap((o) => (o.token === null ? [] : [o.token])), cart: { lines: session.lines, shipping: scenario.shippingFee } });
        if (r.ok) {
          redemptions++;
          discount = r.discountTotal;
          tokens.push(...d.offers.flatMap((o) => (o.token === null ? [] : [o.token])));
          if (r.discountTotal !== t.order.discount) mismatches++;
        } else failures[r.code] = (failures[r.code] ?? 0) + 1;
      }
      // A failed redemption means the shopper paid full price: the order without the offer.
      const order = tokens.length ? t.order : none.order;
      cm = order.cm;
      outbox.push({ id: `${sid}-order`, type: 'order', customerId: cust.id, sessionId: sid, occurredAt: at(2), orderId, lines: session.lines, shipping: scenario.shippingFee, discount, tokens });
      pendingOrders.push([cust.id, now + 2]);
    }
    return { session, none, options, allowed, truths, bucket, now, d, shown, t, offered: shown.length > 0 && t.order.applied, bought, cm };
  };

  // Sessions of a chunk finish in any order; their results are added in session order so the
  // floating-point sums (and so the report) are the same on every run with the same seed. FCFS
  // spends in that order too: arrival order.
  const account = (r: Awaited<ReturnType<typeof runSession>>) => {
    const { session, none, options, truths } = r;
    const w: Where = { cohort: session.customer.cohort, inWindow: session.index >= windowFrom, treated: !r.d.holdout };
    for (const c of constants) {
      const i = c.offerId === null ? -1 : options.findIndex((o) => o.offer.id === c.offerId && o.value === c.value);
      const t = i < 0 ? none : truths[i]!;
      addAcc(accFor(c.id), w, t, none, i >= 0 && t.order.applied);
    }
    let best = none;
    let bestOffered = false;
    for (const t of truths) {
      if (t.ecm > best.ecm) {
        best = t;
        bestOffered = true;
      }
    }
    addAcc(accFor('oracle'), w, best, none, bestOffered);
    let b = buckets.get(r.bucket);
    if (!b) buckets.set(r.bucket, (b = new Map()));
    const inBucket = (key: string) => {
      let a = b.get(key);
      if (!a) b.set(key, (a = emptyAcc()));
      return a;
    };
    addAcc(inBucket('none'), w, none, none, false);
    options.forEach((o, i) => addAcc(inBucket(actionKey(o)), w, truths[i]!, none, truths[i]!.order.applied));

    addAcc(accFor('engine'), w, r.t, none, r.offered);
    // The engine's claim about an offer it showed a treated shopper (see Calibration).
    const claimed = !r.d.holdout && r.shown.length > 0 ? r.d.estimated : undefined;
    opts.onSession?.({
      index: session.index,
      decisionId: r.d.decisionId,
      holdout: r.d.holdout,
      bucket: r.bucket,
      segment: session.customer.segment,
      action: r.shown.length ? r.shown.map((x) => actionKey(x)).join('+') : 'none',
      p: r.t.p,
      p0: none.p,
      bought: r.bought,
      incremental: r.t.ecm - none.ecm,
      options: Object.fromEntries(options.flatMap((o, i) => (r.allowed[i] ? [[actionKey(o), truths[i]!.ecm - none.ecm]] : []))),
      ...(claimed !== undefined ? { estimated: claimed } : {}),
    });
    addAcc(engineIn(r.bucket), w, r.t, none, r.offered);
    if (claimed !== undefined) {
      const truth = r.t.ecm - none.ecm;
      for (const c of [cal.all, cal.byCohort[w.cohort], ...(w.inWindow ? [cal.window] : [])]) {
        c.offers++;
        c.estimated += claimed;
        c.truth += truth;
      }
    }
    if (!r.d.holdout) {
      let c = engineChose.get(r.bucket);
      if (!c) engineChose.set(r.bucket, (c = {}));
      const k = r.shown.length ? r.shown.map((x) => actionKey(x)).join('+') : 'none';
      c[k] = (c[k] ?? 0) + 1;
    }
    if (r.d.holdout) {
      held.push(r.cm);
      if (r.bought) heldOrders++;
    } else {
      treated.push(r.cm);
      if (r.bought) treatedOrders++;
    }

    const day = Math.floor(r.now / DAY);
    const fraction = (r.now - day * DAY) / DAY;
    for (const o of budgeted) {
      const ed = dayOf(engineDays.get(o.id)!, day, o.budget.dailyLiability!);
      ed.sessions++;
      const k = r.d.offers.findIndex((x) => x.offerId === o.id);
      if (k >= 0) {
        const i = options.findIndex((x) => x.offer.id === o.id && x.value === r.d.offers[k]!.value);
        const cost = i >= 0 ? truths[i]!.order.offerCost : 0;
        if (!r.d.offers[k]!.fromWallet) {
          ed.issued++;
          ed.liability += reserveFor(cost, redemptionRate);
        }
        ed.expectedCost += r.t.p * cost;
      }
      if (ed.exhaustedAt === null && r.d.refusals[o.id]?.includes('DAILY_LIABILITY')) ed.exhaustedAt = fraction;
    }
    if (budgeted.length > 0) {
      if (!w.treated) addAcc(accFor('oracle:capped'), w, none, none, false);
      else {
        let dt = cappedDays.get(day);
        if (!dt) cappedDays.set(day, (dt = new Map()));
        let b = dt.get(r.bucket);
        if (!b) dt.set(r.bucket, (b = new Map([['none', { incremental: 0, liability: 0, offerId: null }]])));
        const keys = options.map((o) => actionKey(o));
        options.forEach((o, i) => {
          const budget = caps.has(o.offer.id) ? o.offer.id : null;
          let a = b.get(keys[i]!);
          if (!a) b.set(keys[i]!, (a = { incremental: 0, liability: 0, offerId: budget }));
          a.incremental += truths[i]!.ecm - none.ecm;
          if (budget !== null) a.liability += reserveFor(truths[i]!.order.offerCost, redemptionRate);
        });
        cappedSessions.push({ w, bucket: r.bucket, day, none, keys, truths });
      }
    }
    for (const f of fcfs) {
      const i = options.findIndex((o) => o.offer.id === f.offerId && o.value === f.value);
      let t = none;
      if (w.treated && i >= 0) {
        const reserve = reserveFor(truths[i]!.order.offerCost, redemptionRate);
        const spent = f.spent.get(day) ?? 0;
        if (!f.exhausted.has(day)) f.exhausted.set(day, null);
        if (spent + reserve <= f.cap) {
          t = truths[i]!;
          f.spent.set(day, spent + reserve);
          f.liability += reserve;
          f.expectedCost += t.p * t.order.offerCost;
        } else if (f.exhausted.get(day) === null) f.exhausted.set(day, fraction);
      }
      addAcc(accFor(f.id), w, t, none, t !== none && t.order.applied);
    }
  };

  let done = 0;
  let chunk: SimSession[] = [];
  // A shopper has one session at a time: a second session of the same customer waits for the next
  // chunk, or both would be shown the same wallet token and race to redeem it.
  const inChunk = new Set<string>();
  const runChunk = async () => {
    client.advanceTo(start + chunk[0]!.at);
    for (const r of await Promise.all(chunk.map(runSession))) account(r);
    done += chunk.length;
    chunk = [];
    inChunk.clear();
    if ((await flushEvents(500)) && client.learn) await client.learn();
    opts.onProgress?.(done, total);
  };
  for (const session of sessionStream(scenario, shop, total, seed)) {
    if (inChunk.has(session.customer.id)) await runChunk();
    chunk.push(session);
    inChunk.add(session.customer.id);
    if (chunk.length === concurrency) await runChunk();
  }
  if (chunk.length) await runChunk();
  client.advanceTo(start + runSpan(scenario, total));
  if ((await flushEvents(0)) && client.learn) await client.learn();

  // The observable oracle: per bucket, the action whose summed true incremental CM over the run is highest.
  const observable = emptyAcc();
  const chosen: Record<string, { action: string; sessions: number; oracleIncremental: number; engineIncremental: number; engineChose: Record<string, number>; byAction: Record<string, number> }> = {};
  let offerBuckets = 0;
  for (const [key, actions] of [...buckets.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    let bestKey = 'none';
    let bestAcc = actions.get('none')!;
    for (const [k, a] of actions) {
      if (a.all.incremental > bestAcc.all.incremental) {
        bestKey = k;
        bestAcc = a;
      }
    }
    if (bestKey !== 'none') offerBuckets++;
    const eng = engineBuckets.get(key);
    chosen[key] = { action: bestKey, sessions: bestAcc.all.sessions, oracleIncremental: bestAcc.all.incremental, engineIncremental: eng ? eng.all.incremental : 0, engineChose: engineChose.get(key) ?? {}, byAction: Object.fromEntries([...actions].map(([k, a]) => [k, Math.round(a.all.incremental)])) };
    mergeAcc(observable, bestAcc);
  }
  accs.set('oracle:observable', observable);
  if (budgeted.length > 0) {
    const choice = new Map([...cappedDays].map(([day, totals]) => [day, cappedChoice(totals, caps)]));
    const capped = accFor('oracle:capped');
    for (const c of cappedSessions) {
      const i = c.keys.indexOf(choice.get(c.day)!.get(c.bucket)!);
      const t = i < 0 ? c.none : c.truths[i]!;
      addAcc(capped, c.w, t, c.none, i >= 0 && t.order.applied);
    }
  }

  const elapsedMs = performance.now() - started;
  const oracleTrue = accFor('oracle');
  const report = (id: string, label: string, kind: PolicyReport['kind']): PolicyReport => {
    const a = accFor(id);
    const onTreated = kind === 'engine' || kind === 'budget_baseline';
    const [all, win] = onTreated ? (['treated', 'treatedWindow'] as const) : (['all', 'window'] as const);
    const shares = (o: Acc): OracleShares => ({ all: share(a[all].incremental, o[all].incremental), window: share(a[win].incremental, o[win].incremental) });
    // Against the capped oracle on treated sessions for every policy: it spends on nothing else.
    const cappedShares = (o: Acc): OracleShares => ({ all: share(a.treated.incremental, o.treated.incremental), window: share(a.treatedWindow.incremental, o.treatedWindow.incremental) });
    return {
      id,
      label,
      kind,
      all: summarize(a.all),
      window: summarize(a.window),
      treated: summarize(a.treated),
      treatedWindow: summarize(a.treatedWindow),
      byCohort: Object.fromEntries(COHORTS.map((c) => [c, summarize(a.byCohort[c])])) as Record<SimCohort, PolicySummary>,
      ofOracle: { observable: shares(observable), true: shares(oracleTrue), ...(budgeted.length > 0 ? { withinCaps: cappedShares(accFor('oracle:capped')) } : {}) },
    };
  };
  const engine = report('engine', `engine (${policyName} policy)`, 'engine');
  engine.measured = {
    treated: { sessions: treated.n, orders: treatedOrders, cmPerSession: treated.mean },
    holdout: { sessions: held.n, orders: heldOrders, cmPerSession: held.mean },
    incrementalCmPerSession: treated.mean - held.mean,
    ci95: 1.96 * Math.sqrt((treated.n ? treated.variance / treated.n : 0) + (held.n ? held.variance / held.n : 0)),
    trueIncrementalCmPerSession: engine.treated.incrementalCmPerSession,
  };

  const budgets: BudgetReport[] = [];
  const fcfsReports: PolicyReport[] = [];
  for (const o of budgeted) {
    const rungs = fcfs.filter((f) => f.offerId === o.id);
    // The rung whose blanket (unlimited) earns most on the same sessions.
    const f = rungs.reduce((x, y) => (accFor(y.id.replace(/^fcfs:/, 'all:')).all.incremental > accFor(x.id.replace(/^fcfs:/, 'all:')).all.incremental ? y : x));
    const days = [...engineDays.get(o.id)!.entries()].sort(([a], [b]) => a - b);
    const cap = o.budget.dailyLiability!;
    const e = accFor('engine').treated;
    budgets.push({
      offerId: o.id,
      dailyCap: cap,
      days: days.map(([day, d]) => ({ day: new Date(day * DAY).toISOString().slice(0, 10), ...d })),
      maxShareOfCap: cap > 0 ? Math.max(0, ...days.map(([, d]) => d.liability)) / cap : 0,
      exhaustedAt: exhaustion(days.map(([, d]) => d.exhaustedAt)),
      engine: { incrementalCm: e.incremental, liability: days.reduce((x, [, d]) => x + d.liability, 0), expectedCost: days.reduce((x, [, d]) => x + d.expectedCost, 0) },
      fcfs: {
        value: f.value,
        policyId: f.id,
        incrementalCm: accFor(f.id).treated.incremental,
        liability: f.liability,
        expectedCost: f.expectedCost,
        exhaustedAt: exhaustion([...f.exhausted.values()]),
      },
    });
    fcfsReports.push(report(f.id, `${f.label.replace(/ to all$/, '')} FCFS within the daily cap`, 'budget_baseline'));
  }

  return {
    scenario: scenario.name,
    seed,
    sessions: total,
    client: client.kind,
    policy: policyName,
    window: { sessions: windowSize, firstIndex: windowFrom },
    elapsedMs,
    sessionsPerSec: total / (elapsedMs / 1000),
    policies: [
      ...constants.map((c) => report(c.id, c.label, c.offerId === null ? 'baseline' : 'constant')),
      ...fcfsReports,
      report('oracle:observable', 'observable oracle (best action per bucket)', 'oracle'),
      ...(budgeted.length > 0 ? [report('oracle:capped', 'observable oracle within the daily caps (best action per bucket and day)', 'oracle')] : []),
      report('oracle', 'oracle (true model)', 'oracle'),
      engine,
    ],
    observableOracle: { buckets: buckets.size, offerBuckets, actions: chosen },
    budgets,
    calibration: cal.all.offers > 0 ? { all: calibrated(cal.all), window: calibrated(cal.window), byCohort: Object.fromEntries(COHORTS.map((c) => [c, calibrated(cal.byCohort[c])])) as Record<SimCohort, Calibration> } : null,
    engine: {
      decisions,
      holdoutShare: decisions ? holdouts / decisions : 0,
      offerRate: decisions ? offeredCount / decisions : 0,
      redemptions,
      redemptionFailures: failures,
      discountMismatches: mismatches,
    },
  };
}
