import { z } from 'zod';
import { parseDuration } from './runtime.js';

export const CHANNELS = ['web', 'app', 'email', 'sms', 'push'] as const;
export const ChannelSchema = z.enum(CHANNELS);
export type Channel = z.infer<typeof ChannelSchema>;

export const OFFER_TYPES = [
  'percent_off',
  'amount_off',
  'free_shipping',
  'free_gift',
  'bundle',
  'loyalty_points',
  'financing',
  'content',
] as const;
export const OfferTypeSchema = z.enum(OFFER_TYPES);
export type OfferType = z.infer<typeof OfferTypeSchema>;

export const LIFECYCLE = ['draft', 'live', 'paused', 'archived'] as const;
export const StatusSchema = z.enum(LIFECYCLE);
export type Status = z.infer<typeof StatusSchema>;

const Money = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Slug = z.string().min(1).max(100).regex(/^[A-Za-z0-9_.:\-]+$/, 'letters, digits, _ . : - only');
const TEN_YEARS_MS = 3650 * 86_400_000;
const Duration = z
  .string()
  .refine((s) => {
    const ms = parseDuration(s);
    return ms !== undefined && ms > 0 && ms <= TEN_YEARS_MS;
  }, 'a positive duration up to 10 years, like "30m", "12h", "14d" or "2w"');
const IsoTime = z.iso.datetime({ offset: true });

export const ScopeSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('order') }).strict(),
  z.object({ type: z.literal('categories'), categories: z.array(Slug).min(1).max(500) }).strict(),
  z.object({ type: z.literal('skus'), skus: z.array(Slug).min(1).max(5000) }).strict(),
]);
export type Scope = z.infer<typeof ScopeSchema>;

export const CapsSchema = z
  .object({
    perCustomer: z.number().int().min(1).optional().describe('Max issues of this offer to one customer, ever'),
    global: z.number().int().min(1).optional().describe('Max issues of this offer in total'),
    frequency: z
      .object({ count: z.number().int().min(1), window: Duration })
      .strict()
      .optional()
      .describe('Max issues of this offer to one customer within a sliding window (issues bound impressions from above)'),
    redemptions: z.number().int().min(1).optional().describe('Max redemptions of this offer in total (a rolled-back redemption frees its slot)'),
  })
  .strict();

export const BudgetSchema = z
  .object({
    total: Money.optional().describe('Total reserved cost allowed, minor units'),
    dailyLiability: Money.optional().describe('Reserved cost allowed per UTC day, minor units'),
  })
  .strict();

/**
 * What a marketer writes to define an offer. `value` meaning by type:
 * percent_off / bundle: percent (0–100, up to 2 decimals); amount_off: minor units;
 * loyalty_points: points (fixed) or multiplier; financing: months; free_shipping, free_gift, content: none.
 */
export const OfferSpecSchema = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(2000).optional(),
    type: OfferTypeSchema,
    value: z.number().positive().optional(),
    valueLadder: z.array(z.number().positive()).min(1).max(20).optional(),
    expectedLift: z
      .union([z.number().min(0).max(10), z.array(z.number().min(0).max(10)).min(1).max(20)])
      .optional()
      .describe('Assumed relative lift in conversion (0.1 = +10%), one per ladder rung if an array'),
    scope: ScopeSchema.default({ type: 'order' }),
    minCartValue: Money.optional(),
    maxCartValue: Money.optional().describe('Largest cart subtotal the offer applies to, minor units (at least minCartValue)'),
    maxDiscount: Money.optional(),
    startsAt: IsoTime.optional(),
    endsAt: IsoTime.optional(),
    expiresAfter: Duration.default('14d'),
    channels: z.array(ChannelSchema).min(1).default([...CHANNELS]),
    placements: z.array(Slug).max(100).default([]).describe('Empty means every placement of the campaign'),
    priority: z.number().int().min(-1000).max(1000).default(0),
    stackingGroup: Slug.optional(),
    exclusive: z.boolean().default(false),
    eligibility: z.string().max(4000).optional().describe('CEL expression over customer, cart, context, channel, placement'),
    caps: CapsSchema.default({}),
    budget: BudgetSchema.default({}),
    marginFloorPct: z.number().min(0).max(100).optional(),
    giftSku: Slug.optional(),
    bundleSkus: z.array(Slug).min(2).max(20).optional(),
    pointsMode: z.enum(['fixed', 'multiplier']).optional(),
    pointValue: z.number().min(0).max(1_000_000).optional().describe('Cost of one loyalty point, minor units'),
    shippingCost: Money.optional().describe('What free shipping costs the shop, minor units'),
    merchantFeeBpsPerMonth: z.number().int().min(0).max(10_000).optional(),
    metadata: z.record(z.string(), z.string().max(500)).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const needsValue = ['percent_off', 'amount_off', 'bundle', 'loyalty_points', 'financing'].includes(o.type);
    const values = o.valueLadder ?? (o.value !== undefined ? [o.value] : []);
    if (o.value !== undefined && o.valueLadder) {
      ctx.addIssue({ code: 'custom', path: ['valueLadder'], message: 'give either value or valueLadder, not both' });
    }
    if (needsValue && values.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `${o.type} needs a value or a valueLadder` });
    }
    if (!needsValue && values.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `${o.type} takes no value` });
    }
    for (let i = 1; i < (o.valueLadder?.length ?? 0); i++) {
      if (o.valueLadder![i]! <= o.valueLadder![i - 1]!) {
        ctx.addIssue({ code: 'custom', path: ['valueLadder', i], message: 'ladder values must be strictly increasing' });
      }
    }
    values.forEach((v, i) => {
      const path = o.valueLadder ? ['valueLadder', i] : ['value'];
      if ((o.type === 'percent_off' || o.type === 'bundle') && (v > 100 || Math.abs(v * 100 - Math.round(v * 100)) > 1e-6)) {
        ctx.addIssue({ code: 'custom', path, message: 'percent must be in (0, 100] with at most 2 decimals' });
      }
      if ((o.type === 'amount_off' || o.type === 'financing') && !Number.isInteger(v)) {
        ctx.addIssue({ code: 'custom', path, message: o.type === 'amount_off' ? 'amount must be integer minor units' : 'months must be an integer' });
      }
      if (o.type === 'loyalty_points' && o.pointsMode !== 'multiplier' && !Number.isInteger(v)) {
        ctx.addIssue({ code: 'custom', path, message: 'fixed points must be an integer' });
      }
    });
    if (Array.isArray(o.expectedLift) && o.expectedLift.length !== Math.max(values.length, 1)) {
      ctx.addIssue({ code: 'custom', path: ['expectedLift'], message: 'give one lift per ladder rung' });
    }
    if (o.type === 'free_gift' && !o.giftSku) ctx.addIssue({ code: 'custom', path: ['giftSku'], message: 'free_gift needs giftSku' });
    if (o.type === 'bundle' && !o.bundleSkus) ctx.addIssue({ code: 'custom', path: ['bundleSkus'], message: 'bundle needs bundleSkus' });
    if (o.minCartValue !== undefined && o.maxCartValue !== undefined && o.maxCartValue < o.minCartValue) {
      ctx.addIssue({ code: 'custom', path: ['maxCartValue'], message: 'maxCartValue must be at least minCartValue' });
    }
    if (o.startsAt && o.endsAt && Date.parse(o.endsAt) <= Date.parse(o.startsAt)) {
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'endsAt must be after startsAt' });
    }
  });
export type OfferSpec = z.output<typeof OfferSpecSchema>;
export type OfferSpecInput = z.input<typeof OfferSpecSchema>;

/**
 * The create body: the spec plus an optional id and initial status. It extends the strict spec
 * (keeping its checks) rather than intersecting it with a loose object, whose stripping of
 * unknown keys hid misspelled fields on create while PUT refused them.
 */
export const OfferCreateSchema = OfferSpecSchema.safeExtend({
  id: z.string().regex(/^ofr_[A-Za-z0-9_-]{1,60}$/, 'ofr_ followed by letters, digits, _ or -').optional(),
  status: z.enum(['draft', 'live']).optional(),
});

/** An offer as stored and returned: lifecycle state plus its current immutable version. */
export interface Offer extends OfferSpec {
  id: string;
  status: Status;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export const ResponseModelSchema = z
  .object({
    baseConversion: z.number().min(0).max(1).default(0.05).describe('Assumed purchase probability without an offer'),
    baseConversionByPlacement: z.record(z.string(), z.number().min(0).max(1)).default({}),
    elasticity: z.number().min(0).max(100).default(2).describe('Relative conversion lift per unit of (offer value / basket)'),
    redemptionRate: z.number().min(0).max(1).default(1).describe('Share of issued cost reserved against budgets'),
    expectedBasket: z
      .object({ subtotal: Money.default(5000), marginPct: z.number().min(0).max(100).default(40) })
      .strict()
      .default({ subtotal: 5000, marginPct: 40 })
      .describe('Basket assumed when the request has no cart (e-mail, home page)'),
  })
  .strict();
export type ResponseModel = z.output<typeof ResponseModelSchema>;

const Exploration = z.number().min(0).max(0.5);
const ActionKey = z.string().min(1).max(120).regex(/^(none|ofr_[A-Za-z0-9_-]{1,60}(@-?\d+(\.\d+)?)?)$/, '"none", an offer id, or offerId@value');
/** Shared by the learning policies: the floor of exploration, the burn-in and budget pacing. */
const LearningFields = {
  minExploration: Exploration.default(0.005).describe('Each eligible action keeps at least this probability (then renormalised), so the log can evaluate any policy; every action pays it where offers lose, so it is kept small'),
  burnIn: z.number().int().min(0).max(1_000_000).default(200).describe('Decisions with a known outcome before the weights move from uniform'),
  pacing: z.boolean().default(true).describe('Put a shadow price on cost when a budget or daily liability would bind, so spend spreads over the period'),
  halfLife: z.number().int().min(0).max(10_000_000).default(0).describe('Evidence fades by half every this many decisions (0: never), for shops whose shoppers move between segments'),
};

const PolicyUnion = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('static'),
        mode: z.enum(['expected_value', 'priority']).default('expected_value'),
      })
      .strict()
      .describe('The marketer’s response model (baseConversion, elasticity, expectedLift); does not learn. The choice depends on the cart’s margin rate alone while p0·(1+lift) < 1'),
    z
      .object({
        type: z.literal('ab'),
        weights: z.record(ActionKey, z.number().min(0).max(1_000_000)).optional().describe('Relative weight per action ("none", an offer id, or offerId@value); default: every eligible action alike'),
      })
      .strict()
      .describe('Fixed weights over actions (A/B/n): the baseline'),
    z
      .object({
        type: z.literal('thompson'),
        segmentBy: z.array(z.enum(['cohort', 'placement', 'channel', 'device', 'cart'])).max(5).default(['cohort', 'placement']),
        ...LearningFields,
      })
      .strict()
      .describe('Thompson sampling per segment on margin per decision; weights recomputed on a cadence from shared statistics'),
    z
      .object({
        type: z.literal('contextual'),
        ...LearningFields,
        periodDays: z.number().int().min(0).max(365).default(7).describe('Compare actions within periods of this many days (0: over the whole log): a cohort whose shoppers change over time does not credit an action for when it was chosen'),
        youngSpread: z.number().min(0).max(1).default(0).describe('How much more of its posterior spread an action keeps where its uncertainty for the request is still mostly the prior’s (0: posteriorScale for all; 1: the whole spread for an action with no evidence of its own): explores rarely tried actions sooner, which pays where trying offers is cheap and costs where it is not'),
        posteriorScale: z.number().min(0.05).max(2).default(0.3).describe('Thompson sampling on the posterior with its spread scaled by this: 1 is plain Thompson sampling; smaller exploits sooner (the floor still explores)'),
      })
      .strict()
      .describe('Thompson sampling on a Bayesian linear model per action over the request’s features; the recommended default'),
    z
      .object({
        type: z.literal('uplift'),
        exploration: Exploration.default(0.05).describe('Share of decisions spread uniformly over the eligible actions (keeps the log evaluable)'),
        pacing: z.boolean().default(true),
      })
      .strict()
      .describe('A T-learner trained offline (`offerpilot train`) on logged randomized data; picks the best predicted incremental margin'),
  ])
  .meta({ id: 'PolicyConfig' });

/** A campaign's policy; `type` may be left out for the original static policy (configurations written before learning existed). */
export const PolicyConfigSchema = z.preprocess(
  (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) && !('type' in v) ? { ...v, type: 'static' } : v),
  PolicyUnion,
);
export type PolicyConfig = z.output<typeof PolicyConfigSchema>;

export const CampaignSpecSchema = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(2000).optional(),
    placements: z.array(Slug).min(1).max(100),
    channels: z.array(ChannelSchema).min(1).default([...CHANNELS]),
    offers: z.array(z.string().regex(/^ofr_/, 'an offer id (ofr_...)')).min(1).max(500),
    holdoutPct: z.number().min(0).max(100).default(10),
    salt: z.string().min(1).max(100).optional().describe('Holdout salt; defaults to the campaign id'),
    objective: z.literal('incremental_margin').default('incremental_margin'),
    // A learned policy by default: the static formula ignores who the shopper is (see its description).
    policy: PolicyConfigSchema.default(() => PolicyUnion.parse({ type: 'contextual' })),
    marginFloorPct: z.number().min(0).max(100).optional(),
    maxOffers: z.number().int().min(1).max(5).default(1),
    priority: z.number().int().min(-1000).max(1000).default(0),
    startsAt: IsoTime.optional(),
    endsAt: IsoTime.optional(),
    model: ResponseModelSchema.default(ResponseModelSchema.parse({})),
    attributionWindow: Duration.default('7d').describe('Outcomes without a decision id or token are credited to the latest decision of this campaign within this window'),
  })
  .strict();
export type CampaignSpec = z.output<typeof CampaignSpecSchema>;
export type CampaignSpecInput = z.input<typeof CampaignSpecSchema>;

/** The create body: the strict campaign spec extended with an optional id and initial status (see OfferCreateSchema). */
export const CampaignCreateSchema = CampaignSpecSchema.safeExtend({
  id: z.string().regex(/^cmp_[A-Za-z0-9_-]{1,60}$/, 'cmp_ followed by letters, digits, _ or -').optional(),
  status: z.enum(['draft', 'live']).optional(),
});

/** A campaign as stored and returned. */
export interface Campaign extends CampaignSpec {
  id: string;
  status: Status;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export const ProductSchema = z
  .object({
    sku: Slug,
    name: z.string().max(300).optional(),
    category: Slug.optional(),
    price: Money.describe('List price, minor units'),
    unitCost: Money.describe('Cost of goods per unit, minor units'),
    fulfilmentCost: Money.default(0).describe('Pick, pack and ship cost per unit, minor units'),
    inventoryOnHand: z.number().int().min(0).optional(),
    dailySalesRate: z.number().min(0).optional(),
  })
  .strict();
export type Product = z.output<typeof ProductSchema>;
export type ProductInput = z.input<typeof ProductSchema>;

/** A product with the derived figures the engine uses. */
export interface ProductView extends Product {
  unitMargin: number;
  marginPct: number | null;
  daysOfCover: number | null;
}

export const TransitionSchema = z.object({ status: StatusSchema }).strict();

/** Allowed lifecycle moves; archived is final. */
export const TRANSITIONS: Record<Status, readonly Status[]> = {
  draft: ['live', 'archived'],
  live: ['paused', 'archived'],
  paused: ['live', 'archived'],
  archived: [],
};
