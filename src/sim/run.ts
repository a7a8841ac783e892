import { CampaignSpecSchema, OfferCreateSchema, type Offer } from '../core/catalog.js';
import { ResponseModel, type ShownOffer, type Truth } from './model.js';
import { COHORTS, type Scenario, type SimCohort } from './scenario.js';
import { buildShop, sessions as sessionStream, type SimSession, type SimShop } from './shop.js';
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

export interface PolicyReport {
  id: string;
  label: string;
  kind: 'baseline' | 'constant' | 'oracle' | 'engine';
  all: PolicySummary;
  byCohort: Record<SimCohort, PolicySummary>;
  measured?: Measured;
}

export interface SimReport {
  scenario: string;
  seed: number;
  sessions: number;
  client: 'in-process' | 'http';
  elapsedMs: number;
  sessionsPerSec: number;
  policies: PolicyReport[];
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
  onProgress?: (done: number, total: number) => void;
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

/** Constant policies: nothing for anyone, and each offer at each value for everyone. */
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

/**
 * Runs a scenario: builds the shop, imports its catalog and history into the engine through
 * `client`, then for each session asks the engine to decide, samples the outcome from the true
 * model and reports it (impression, redemption, order) as a shop would. Every policy — no offer,
 * each constant offer, the oracle (the best action per session under the true model) and the
 * engine's — is scored on the same sessions, so differences are the policies', not the dice's.
 */
export async function simulate(scenario: Scenario, client: ShopClient, opts: SimulateOptions): Promise<SimReport> {
  const seed = opts.seed ?? 1;
  const concurrency = opts.concurrency ?? 16;
  const started = performance.now();
  const shop = buildShop(scenario, seed);
  const model = new ResponseModel(scenario, shop.products);
  const offers = scenarioOffers(scenario);
  const constants = constantPolicies(offers);
  const { id: _id, status: _status, ...campaignSpec } = scenarioCampaign(scenario);
  const campaign = CampaignSpecSchema.parse(campaignSpec);

  await client.importCatalog(simCatalog(scenario, shop));
  const start = client.now();
  const history = historyEvents(shop, start);
  for (let i = 0; i < history.length; i += 1000) await client.events(history.slice(i, i + 1000));

  const stats = new Map<string, { all: PolicyStats; byCohort: Record<SimCohort, PolicyStats> }>();
  const statsFor = (id: string) => {
    let s = stats.get(id);
    if (!s) stats.set(id, (s = { all: emptyStats(), byCohort: Object.fromEntries(COHORTS.map((c) => [c, emptyStats()])) as Record<SimCohort, PolicyStats> }));
    return s;
  };
  const record = (id: string, session: SimSession, t: Truth, none: Truth, offered: boolean) => {
    const s = statsFor(id);
    add(s.all, t, none, offered);
    add(s.byCohort[session.customer.cohort], t, none, offered);
  };
  const treated = new Moments();
  const held = new Moments();
  let treatedOrders = 0;
  let heldOrders = 0;
  let trueTreatedIncrement = 0;
  let decisions = 0;
  let holdouts = 0;
  let offeredCount = 0;
  let redemptions = 0;
  let mismatches = 0;
  const failures: Record<string, number> = {};
  let outbox: Array<Record<string, unknown>> = [];
  const flushEvents = async (min: number) => {
    if (outbox.length < min || outbox.length === 0) return;
    const batch = outbox;
    outbox = [];
    for (let i = 0; i < batch.length; i += 1000) await client.events(batch.slice(i, i + 1000));
  };

  const runSession = async (session: SimSession) => {
    const none = model.truth(session, []);
    // Policies scored in expectation on the true model.
    const options = candidates(campaign, offers, session);
    for (const c of constants) {
      const shown = c.offerId === null ? [] : options.filter((o) => o.offer.id === c.offerId && o.value === c.value);
      const t = shown.length ? model.truth(session, shown) : none;
      record(c.id, session, t, none, shown.length > 0 && t.order.applied);
    }
    let best = none;
    let bestOffered = false;
    for (const o of options) {
      const t = model.truth(session, [o]);
      if (t.ecm > best.ecm) {
        best = t;
        bestOffered = true;
      }
    }
    record('oracle', session, best, none, bestOffered);

    // The engine, through its public API.
    const cust = session.customer;
    const at = (ms: number) => new Date(client.now() + ms).toISOString();
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
    }
    return { session, t, none, offered: shown.length > 0 && t.order.applied, holdout: d.holdout, bought, cm };
  };
  // Sessions of a chunk finish in any order; their results are added in session order so the
  // floating-point sums (and so the report) are the same on every run with the same seed.
  const account = (r: Awaited<ReturnType<typeof runSession>>) => {
    record('engine', r.session, r.t, r.none, r.offered);
    if (r.holdout) {
      held.push(r.cm);
      if (r.bought) heldOrders++;
    } else {
      trueTreatedIncrement += r.t.ecm - r.none.ecm;
      treated.push(r.cm);
      if (r.bought) treatedOrders++;
    }
  };

  const total = opts.sessions;
  const span = scenario.days * DAY;
  let done = 0;
  let chunk: SimSession[] = [];
  const runChunk = async () => {
    client.advanceTo(start + chunk[0]!.at);
    for (const r of await Promise.all(chunk.map(runSession))) account(r);
    done += chunk.length;
    chunk = [];
    await flushEvents(500);
    opts.onProgress?.(done, total);
  };
  for (const session of sessionStream(scenario, shop, total, seed)) {
    chunk.push(session);
    if (chunk.length === concurrency) await runChunk();
  }
  if (chunk.length) await runChunk();
  client.advanceTo(start + span);
  await flushEvents(0);

  const elapsedMs = performance.now() - started;
  const report = (id: string, label: string, kind: PolicyReport['kind']): PolicyReport => {
    const s = statsFor(id);
    return { id, label, kind, all: summarize(s.all), byCohort: Object.fromEntries(COHORTS.map((c) => [c, summarize(s.byCohort[c])])) as Record<SimCohort, PolicySummary> };
  };
  const engine = report('engine', 'engine (static policy)', 'engine');
  engine.measured = {
    treated: { sessions: treated.n, orders: treatedOrders, cmPerSession: treated.mean },
    holdout: { sessions: held.n, orders: heldOrders, cmPerSession: held.mean },
    incrementalCmPerSession: treated.mean - held.mean,
    ci95: 1.96 * Math.sqrt((treated.n ? treated.variance / treated.n : 0) + (held.n ? held.variance / held.n : 0)),
    trueIncrementalCmPerSession: treated.n ? trueTreatedIncrement / treated.n : 0,
  };
  return {
    scenario: scenario.name,
    seed,
    sessions: total,
    client: client.kind,
    elapsedMs,
    sessionsPerSec: total / (elapsedMs / 1000),
    policies: [
      ...constants.map((c) => report(c.id, c.label, c.offerId === null ? 'baseline' : 'constant')),
      report('oracle', 'oracle (true model)', 'oracle'),
      engine,
    ],
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
