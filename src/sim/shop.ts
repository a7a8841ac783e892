import type { Channel, ProductInput } from '../core/catalog.js';
import { seededRandom, type Random } from '../core/runtime.js';
import { COHORTS, SEGMENTS, type Scenario, type Segment, type SimCohort } from './scenario.js';

/** A product of the simulated shop, with what the engine is told about it. */
export interface SimProduct extends ProductInput {
  sku: string;
  category: string;
  price: number;
  unitCost: number;
  fulfilmentCost: number;
  /** Relative chance of landing in a cart. */
  weight: number;
}

/** A simulated customer: what the shop knows (id, history) and what only the model knows. */
export interface SimCustomer {
  id: string;
  cohort: SimCohort;
  /** Latent: how the customer responds to offers. */
  segment: Segment;
  /** Latent: purchase probability of a session without an offer. */
  baseConversion: number;
  /** Latent: persuadables' sensitivity to an offer's relative value. */
  sensitivity: number;
  basketLines: [number, number];
  device: string;
  /** Orders before the simulation starts (imported history), days ago. */
  history: number[];
}

export interface SimLine {
  sku: string;
  quantity: number;
  unitPrice: number;
}

/** One visit: who, where, and the basket they would buy. */
export interface SimSession {
  index: number;
  customer: SimCustomer;
  placement: string;
  channel: Channel;
  hasCart: boolean;
  /** Milliseconds since the simulation started. */
  at: number;
  lines: SimLine[];
  /** Common random number: the session converts under an action if u < P(convert | action). */
  u: number;
}

export interface SimShop {
  products: SimProduct[];
  customers: SimCustomer[];
}

/**
 * A weighted draw over fixed weights. Filtering and totalling the weights once, not per draw,
 * keeps the arithmetic of each draw (the same subtractions in the same order) and so every
 * seeded run's results to the last bit, while sessions() no longer rescans the catalog per line.
 */
const picker = <T extends string>(weights: Partial<Record<T, number>> | Array<[T, number]>): ((r: Random) => T) => {
  const entries = (Array.isArray(weights) ? weights : (Object.entries(weights) as Array<[T, number]>)).filter(([, w]) => w > 0);
  const total = entries.reduce((a, [, w]) => a + w, 0);
  return (r) => {
    let x = r() * total;
    for (const [k, w] of entries) {
      x -= w;
      if (x < 0) return k;
    }
    return entries[entries.length - 1]![0];
  };
};
const pick = <T extends string>(r: Random, weights: Partial<Record<T, number>> | Array<[T, number]>): T => picker(weights)(r);
const uniformInt = (r: Random, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
/** Log-normal around `mean` with a spread of about ±50%: latent traits vary between customers. */
const around = (r: Random, mean: number) => mean * Math.exp(0.5 * gaussian(r) - 0.125);
function gaussian(r: Random): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

/**
 * Builds the shop of a scenario: the catalog (prices, costs, inventory — some SKUs overstocked
 * and aged, some near stock-out, low-margin high-velocity lines where the scenario says so) and
 * the customers with their latent segment and traits. Seeded: the same seed gives the same shop.
 */
export function buildShop(s: Scenario, seed: number): SimShop {
  const r = seededRandom(seed);
  const products: SimProduct[] = [];
  for (const c of s.categories) {
    for (let i = 0; i < c.skus; i++) {
      const price = uniformInt(r, c.priceRange[0], c.priceRange[1]);
      const stock = r();
      const dailySalesRate = Math.round(around(r, 4) * c.popularity * 10) / 10;
      // Days of cover: most SKUs 2–8 weeks, some overstocked (half a year or more), some nearly out.
      const cover = stock < s.inventory.overstockShare ? 180 + r() * 180 : stock < s.inventory.overstockShare + s.inventory.lowStockShare ? r() * 3 : 14 + r() * 42;
      products.push({
        sku: `${c.name.toUpperCase().replace(/[^A-Z0-9]+/g, '-')}-${String(i + 1).padStart(3, '0')}`,
        name: `${c.name} ${i + 1}`,
        category: c.name,
        price,
        unitCost: Math.round(price * (1 - c.marginPct / 100)),
        fulfilmentCost: c.fulfilment,
        inventoryOnHand: Math.round(dailySalesRate * cover),
        dailySalesRate,
        weight: c.popularity / c.skus,
      });
    }
  }
  const customers: SimCustomer[] = [];
  const cohortShares = COHORTS.map((c) => [c, s.cohorts[c].share] as [SimCohort, number]);
  for (let i = 0; i < s.customers; i++) {
    const cohort = pick(r, cohortShares);
    const cs = s.cohorts[cohort];
    const segment = pick(r, SEGMENTS.map((g) => [g, cs.segments[g] ?? 0] as [Segment, number]));
    const base = s.segments[segment].baseConversion;
    const orders = uniformInt(r, cs.priorOrders[0], cs.priorOrders[1]);
    const last = cs.daysSinceLastOrder[0] + r() * (cs.daysSinceLastOrder[1] - cs.daysSinceLastOrder[0]);
    // Earlier orders spread back from the last one, 10–60 days apart.
    const history = Array.from({ length: orders }, (_, k) => last + k * (10 + r() * 50));
    customers.push({
      id: `sim-${String(i + 1).padStart(6, '0')}`,
      cohort,
      segment,
      baseConversion: Math.min(0.95, around(r, base)),
      sensitivity: around(r, cs.priceSensitivity),
      basketLines: cs.basketLines,
      device: pick(r, s.devices),
      history,
    });
  }
  return { products, customers };
}

const DAY = 86_400_000;

/** How long a run of `count` sessions lasts, ms: the scenario's days, or as many days as its traffic per day fills. */
export function runSpan(s: Scenario, count: number): number {
  return s.sessionsPerDay ? Math.max(1, Math.ceil(count / s.sessionsPerDay)) * DAY : s.days * DAY;
}

/**
 * The sessions of a run: customers drawn uniformly, placements by share, arrival times spread
 * evenly over the scenario's days (with `sessionsPerDay`, that many evenly over each UTC day, so
 * a session's place in the day is its time of day), and the basket each would buy. Seeded separately from the shop so a
 * longer run extends a shorter one's sessions.
 */
export function* sessions(s: Scenario, shop: SimShop, count: number, seed: number): Generator<SimSession> {
  const r = seededRandom(seed ^ 0x5e55);
  const span = runSpan(s, count);
  const pickPlacement = picker(s.placements.map((p) => [p.name, p.share] as [string, number]));
  const placementByName = new Map<string, (typeof s.placements)[number]>();
  for (const p of s.placements) if (!placementByName.has(p.name)) placementByName.set(p.name, p);
  const pickProduct = picker(shop.products.map((p, i) => [String(i), p.weight] as [string, number]));
  for (let index = 0; index < count; index++) {
    const customer = shop.customers[Math.floor(r() * shop.customers.length)]!;
    const placement = placementByName.get(pickPlacement(r))!;
    const n = uniformInt(r, customer.basketLines[0], customer.basketLines[1]);
    const bySku = new Map<string, SimLine>();
    for (let k = 0; k < n; k++) {
      const p = shop.products[Number(pickProduct(r))]!;
      const line = bySku.get(p.sku);
      if (line) line.quantity++;
      else bySku.set(p.sku, { sku: p.sku, quantity: r() < 0.15 ? 2 : 1, unitPrice: p.price });
    }
    yield {
      index,
      customer,
      placement: placement.name,
      channel: placement.channel,
      hasCart: placement.hasCart,
      at: s.sessionsPerDay ? Math.floor((index / s.sessionsPerDay) * DAY) : Math.floor((index / count) * span),
      lines: [...bySku.values()],
      u: r(),
    };
  }
}
