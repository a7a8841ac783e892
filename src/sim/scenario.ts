import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CampaignSpecSchema, ChannelSchema, OfferCreateSchema } from '../core/catalog.js';
import { OfferpilotError } from '../core/errors.js';

const Share = z.number().min(0).max(1);
const Money = z.number().int().min(0);

export const SEGMENTS = ['sure_thing', 'persuadable', 'lost_cause', 'sleeping_dog'] as const;
export type Segment = (typeof SEGMENTS)[number];
export const COHORTS = ['first_time', 'engaged_30', 'engaged_90', 'lapsed'] as const;
export type SimCohort = (typeof COHORTS)[number];

const CategorySchema = z
  .object({
    name: z.string().min(1).max(60),
    skus: z.number().int().min(1).max(2000),
    priceRange: z.tuple([Money, Money]).describe('List prices drawn uniformly in this range, minor units'),
    marginPct: z.number().min(-50).max(95).describe('Gross margin before fulfilment: (price − unit cost) / price'),
    fulfilment: Money.default(0).describe('Pick and pack cost per unit'),
    popularity: z.number().positive().default(1).describe('Relative chance a cart line comes from this category'),
  })
  .strict();

const CohortSchema = z
  .object({
    share: Share,
    segments: z.record(z.enum(SEGMENTS), Share).describe('Share of each latent response segment in this cohort (sums to 1)'),
    priceSensitivity: z.number().min(0).max(200).describe('Mean of the persuadables’ latent sensitivity to an offer’s relative value'),
    basketLines: z.tuple([z.number().int().min(1), z.number().int().min(1)]).default([1, 3]),
    priorOrders: z.tuple([z.number().int().min(0), z.number().int().min(0)]).default([0, 0]).describe('Orders in the imported history'),
    daysSinceLastOrder: z.tuple([z.number().min(0), z.number().min(0)]).default([0, 0]),
  })
  .strict();

const SegmentModelSchema = z
  .object({
    baseConversion: Share.describe('Purchase probability of a session without an offer'),
    maxConversion: Share.optional().describe('Persuadables: the probability an offer of unbounded value would reach'),
    offerPenalty: Share.optional().describe('Sleeping dogs: relative drop in purchase probability when any offer is shown'),
  })
  .strict();

const PlacementSchema = z
  .object({
    name: z.string().min(1).max(100),
    share: Share,
    channel: ChannelSchema.default('web'),
    hasCart: z.boolean().default(true).describe('Whether decide sees the cart (a cart page does, a home banner does not)'),
  })
  .strict();

/** A simulated shop: catalog, customers, response model, the offers and campaign to run. */
export const ScenarioSchema = z
  .object({
    name: z.string().min(1).max(100),
    description: z.string().max(2000).default(''),
    customers: z.number().int().min(10).max(1_000_000),
    days: z.number().int().min(1).max(365).default(28),
    sessionsPerDay: z
      .number()
      .int()
      .min(1)
      .max(10_000_000)
      .optional()
      .describe('Traffic per UTC day: when set, a run lasts as many days as its sessions fill (so a daily budget binds the same way at any run length) and `days` is ignored'),
    shippingFee: Money.describe('What a shopper pays for shipping without an offer'),
    carrierCost: Money.describe('What shipping an order costs the shop'),
    pointValue: z.number().min(0).default(1).describe('Cost of one loyalty point to the shop, minor units'),
    perceived: z
      .object({
        shipping: z.number().min(0).default(1.5).describe('How much a shopper values free shipping per unit of fee saved'),
        gift: z.number().min(0).default(0.5).describe('Per unit of the gift’s price'),
        points: z.number().min(0).default(0.4).describe('Per unit of the points’ cost to the shop'),
        financingPerMonth: z.number().min(0).default(0.01).describe('Share of the basket a month of interest-free financing is worth'),
      })
      .strict()
      .default({ shipping: 1.5, gift: 0.5, points: 0.4, financingPerMonth: 0.01 }),
    categories: z.array(CategorySchema).min(1).max(50),
    inventory: z
      .object({ overstockShare: Share.default(0.1), lowStockShare: Share.default(0.05) })
      .strict()
      .default({ overstockShare: 0.1, lowStockShare: 0.05 }),
    cohorts: z.object({ first_time: CohortSchema, engaged_30: CohortSchema, engaged_90: CohortSchema, lapsed: CohortSchema }).strict(),
    segments: z.object({ sure_thing: SegmentModelSchema, persuadable: SegmentModelSchema, lost_cause: SegmentModelSchema, sleeping_dog: SegmentModelSchema }).strict(),
    placements: z.array(PlacementSchema).min(1).max(20),
    devices: z.record(z.string().min(1).max(30), Share).default({ mobile: 0.6, desktop: 0.4 }),
    offers: z.array(z.unknown()).min(1).max(50).describe('Offer definitions as the catalog API takes them (with ids)'),
    campaign: z.unknown().describe('The campaign as the catalog API takes it; offers default to every offer above'),
  })
  .strict()
  .superRefine((s, ctx) => {
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const near1 = (x: number) => Math.abs(x - 1) < 1e-6;
    if (!near1(sum(Object.values(s.cohorts).map((c) => c.share)))) ctx.addIssue({ code: 'custom', path: ['cohorts'], message: 'cohort shares must sum to 1' });
    for (const [name, c] of Object.entries(s.cohorts)) {
      if (!near1(sum(Object.values(c.segments)))) ctx.addIssue({ code: 'custom', path: ['cohorts', name, 'segments'], message: 'segment shares must sum to 1' });
    }
    if (!near1(sum(s.placements.map((p) => p.share)))) ctx.addIssue({ code: 'custom', path: ['placements'], message: 'placement shares must sum to 1' });
    s.categories.forEach((c, i) => {
      if (c.priceRange[1] < c.priceRange[0]) ctx.addIssue({ code: 'custom', path: ['categories', i, 'priceRange'], message: 'low end above high end' });
    });
    s.offers.forEach((o, i) => {
      const r = OfferCreateSchema.safeParse(o);
      if (!r.success) for (const x of r.error.issues) ctx.addIssue({ code: 'custom', path: ['offers', i, ...x.path.map(String)], message: x.message });
      else if (!r.data.id) ctx.addIssue({ code: 'custom', path: ['offers', i, 'id'], message: 'give each offer an id (ofr_…)' });
    });
    const c = CampaignSpecSchema.partial({ offers: true, name: true, placements: true }).safeParse(s.campaign ?? {});
    if (!c.success) for (const x of c.error.issues) ctx.addIssue({ code: 'custom', path: ['campaign', ...x.path.map(String)], message: x.message });
  });
export type Scenario = z.output<typeof ScenarioSchema>;

/** Validates a scenario; errors name the field. */
export function parseScenario(raw: unknown): Scenario {
  const r = ScenarioSchema.safeParse(raw);
  if (!r.success) {
    const details = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    throw new OfferpilotError('VALIDATION_FAILED', `Invalid scenario: ${details.map((d) => `${d.path || '(root)'}: ${d.message}`).join('; ')}`, details);
  }
  return r.data;
}

/** The scenarios shipped in `scenarios/`. */
export const SHIPPED_SCENARIOS = ['apparel', 'grocery', 'blanket-trap', 'budget'] as const;

/** The repository's scenarios/ folder, seen from src/sim, dist/sim or a build nested one deeper. */
function shippedPath(name: string): string {
  for (const up of ['../../', '../../../']) {
    const p = fileURLToPath(new URL(`${up}scenarios/${name}.yaml`, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new OfferpilotError('VALIDATION_FAILED', `Shipped scenario ${name} not found (scenarios/${name}.yaml)`);
}

/** Loads a scenario: a shipped name, or a path to a .json / .yaml file. */
export function loadScenario(nameOrPath: string): Scenario {
  const path = (SHIPPED_SCENARIOS as readonly string[]).includes(nameOrPath) ? shippedPath(nameOrPath) : nameOrPath;
  const text = readFileSync(path, 'utf8');
  const ext = extname(path).toLowerCase();
  const raw: unknown = ext === '.json' ? JSON.parse(text) : parseYaml(text);
  return parseScenario(raw);
}
