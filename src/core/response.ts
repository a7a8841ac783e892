import { z } from 'zod';
import { OFFER_TYPES } from './catalog.js';
import { REASONS } from './reasons.js';

/** Why a candidate (or the decision) came out as it did: a stable code, with detail where useful. */
export const ReasonSchema = z.object({ code: z.enum(Object.keys(REASONS) as [keyof typeof REASONS]), detail: z.string().optional() }).meta({ id: 'Reason' });

/** How one candidate fared: every decision explains every candidate. */
export const CandidateSchema = z
  .object({
    offerId: z.string(),
    version: z.number().int(),
    eligible: z.boolean(),
    selected: z.boolean(),
    reasons: z.array(ReasonSchema),
    score: z.number().nullable().describe('Expected incremental margin (minor units) of the best value, or null if not scored'),
    value: z.number().nullable(),
  })
  .meta({ id: 'Candidate' });

/** A learner's estimate for one action (per decision, minor units). */
export const EstimateSchema = z
  .object({
    action: z.string().describe('"none", an offer id, or offerId@value'),
    incrementalMargin: z.number().describe('E[CM | action] − E[CM | no offer], less the budget shadow price when pacing'),
    baseline: z.number().describe('E[CM | no offer]'),
    uplift: z.number().describe('Margin the action adds before its cost'),
    cost: z.number().describe('Expected cost of the action'),
    probability: z.number().describe('Probability the policy gave this action'),
  })
  .meta({ id: 'Estimate' });

/** The decide API's answer, also what the decision log stores; the type is inferred from it. */
export const DecisionResponseSchema = z
  .object({
    decisionId: z.string().describe('dec_…'),
    requestId: z.string().nullable(),
    campaignId: z.string().nullable(),
    campaignVersion: z.number().int().nullable(),
    catalogVersion: z.number().int(),
    holdout: z.boolean().describe('The customer is in the campaign holdout: no offer, logged like everyone else'),
    globalHoldout: z.boolean().describe('The customer is in the program-level holdout (no campaign shows them anything); holdout is then true too'),
    personalized: z.boolean().describe('Profile data was used (the customer consented to personalization)'),
    policy: z.string().nullable(),
    probability: z.number().describe('Probability with which the policy chose this action (1 for deterministic policies)'),
    policyVersion: z.number().int().nullable().optional().describe('Version of the learned policy state the policy decided with; null when it read none (absent in decisions logged before policy state existed)'),
    estimates: z
      .object({ learner: z.string(), version: z.number().int().nullable(), chosen: EstimateSchema, runnerUp: EstimateSchema.nullable() })
      .nullable()
      .optional()
      .describe('A learning policy’s estimates for the chosen action and the runner-up, with the learner and state version that produced them'),
    offers: z.array(
      z.object({
        issuanceId: z.string().describe('iss_…: the wallet entry'),
        offerId: z.string(),
        version: z.number().int(),
        name: z.string(),
        type: z.enum(OFFER_TYPES),
        value: z.number().nullable().describe('The concrete value chosen (percent, minor units, points multiplier, months)'),
        discount: z.number().int().describe('Money off on this cart, minor units'),
        points: z.number().int(),
        score: z.number().describe('Expected incremental contribution margin, minor units'),
        expiresAt: z.string(),
        token: z.string().nullable().describe('Signed offer token to present at redemption; null for content offers, which have nothing to redeem'),
        code: z.string().nullable().describe('Coupon code (e-mail, SMS, push) redeeming the same wallet entry; null otherwise'),
        fromWallet: z.boolean().describe('Already in the customer’s wallet: the same issuance, token, value and expiry, presented again; nothing new reserved'),
      }),
    ),
    reasons: z.array(ReasonSchema),
    candidates: z.array(CandidateSchema),
    basket: z.object({ basis: z.enum(['cart', 'expected']), subtotal: z.number().int(), margin: z.number().int().nullable() }),
    decidedAt: z.string(),
  })
  .meta({ id: 'Decision' });
export type DecisionResponse = z.infer<typeof DecisionResponseSchema>;
/** One offer in a decision response. */
export type OfferView = DecisionResponse['offers'][number];
