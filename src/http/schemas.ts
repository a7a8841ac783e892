import { z } from 'zod';
import { REASONS } from '../core/reasons.js';
import { CHANNELS, LIFECYCLE, OFFER_TYPES } from '../core/catalog.js';

/** Response shapes, for the OpenAPI document (responses are not re-validated at run time). */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().describe('Stable error code, e.g. VALIDATION_FAILED, OFFER_NOT_FOUND'),
      message: z.string(),
      details: z.array(z.object({ path: z.string().describe('Dotted path of the offending field'), message: z.string() })),
    }),
  })
  .meta({ id: 'Error' });

const ReasonSchema = z.object({ code: z.enum(Object.keys(REASONS) as [keyof typeof REASONS]), detail: z.string().optional() }).meta({ id: 'Reason' });

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
    candidates: z.array(
      z.object({
        offerId: z.string(),
        version: z.number().int(),
        eligible: z.boolean(),
        selected: z.boolean(),
        reasons: z.array(ReasonSchema),
        score: z.number().nullable(),
        value: z.number().nullable(),
      }),
    ),
    basket: z.object({ basis: z.enum(['cart', 'expected']), subtotal: z.number().int(), margin: z.number().int().nullable() }),
    decidedAt: z.string(),
  })
  .meta({ id: 'Decision' });

export const StatusBody = z.object({ status: z.enum(LIFECYCLE) }).strict();
export const ChannelEnum = z.enum(CHANNELS);
export const IdParams = z.object({ id: z.string().min(1).max(200) });
export const VersionQuery = z.object({ version: z.coerce.number().int().min(1).max(2_147_483_647).optional() }).strict();
export const StatusQuery = z.object({ status: z.enum(LIFECYCLE).optional() }).strict();
export const Passthrough = z.record(z.string(), z.unknown());
