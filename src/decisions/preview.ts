import { z } from 'zod';
import type { ChosenOffer, Decision } from '../core/decide.js';
import { OFFER_TYPES } from '../core/catalog.js';
import { CandidateSchema, DecisionResponseSchema, ReasonSchema } from '../core/response.js';

/** An offer in a preview: what would be shown, without the guard internals or a held entry's credentials. */
export const PreviewOfferSchema = z
  .object({
    offerId: z.string(),
    version: z.number().int(),
    name: z.string(),
    type: z.enum(OFFER_TYPES),
    value: z.number().nullable(),
    discount: z.number().int(),
    cost: z.number(),
    points: z.number().int(),
    reserve: z.number(),
    score: z.number(),
    expiresAt: z.string(),
    fromWallet: z.boolean().describe('Already in the wallet: shown as held, never with its coupon code or token'),
  })
  .meta({ id: 'PreviewOffer' });

/** The preview reply: the decision the engine would make now, every candidate explained. */
export const DecisionPreviewSchema = z
  .object({
    campaign: z.object({ id: z.string(), version: z.number().int() }).nullable(),
    subjectId: z.string(),
    customerId: z.string().nullable(),
    anonymousId: z.string().nullable(),
    placement: z.string(),
    channel: z.string(),
    holdout: z.boolean(),
    globalHoldout: z.boolean(),
    personalized: z.boolean(),
    policy: z.string().nullable(),
    probability: z.number(),
    policyVersion: z.number().int().nullable().describe('Version of the learned policy state the policy decided with; null when it read none'),
    estimates: DecisionResponseSchema.shape.estimates,
    reasons: z.array(ReasonSchema),
    chosen: z.array(PreviewOfferSchema),
    counterfactual: z.array(PreviewOfferSchema).describe('For holdout decisions: what treatment would have shown'),
    candidates: z.array(CandidateSchema),
    basket: z.object({ basis: z.enum(['cart', 'expected']), subtotal: z.number().int(), margin: z.number().int().nullable() }),
    decidedAt: z.string(),
  })
  .meta({ id: 'DecisionPreview' });
export type DecisionPreview = z.infer<typeof DecisionPreviewSchema>;

// A preview needs only the read scope: a held wallet entry is shown as held, never with its
// coupon code or token (bearer credentials the wallet gives only to the decide scope).
const previewOffer = ({ guard: _g, held, ...c }: ChosenOffer): DecisionPreview['chosen'][number] => ({
  ...c,
  fromWallet: held !== null && held !== undefined,
  expiresAt: new Date(c.expiresAt).toISOString(),
});

/** A decision as the preview reply shows it. */
export function previewView(d: Decision): DecisionPreview {
  // The learner's trace is for the log (what to learn from), not for the reply.
  const { trace: _t, ...rest } = d;
  return { ...rest, decidedAt: new Date(d.decidedAt).toISOString(), chosen: d.chosen.map(previewOffer), counterfactual: d.counterfactual.map(previewOffer) };
}
