import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { IsoInstant, orderedWindow } from '../http/query.js';
import { errorReplies, IdParams } from '../http/schemas.js';
import type { LearningService } from './service.js';

const Interval = z.object({ estimate: z.number(), se: z.number(), lower: z.number(), upper: z.number() });
const Verdict = z.enum(['better', 'worse', 'inconclusive']);
const Split = z
  .object({ holdoutShare: z.number(), treatedNoneShare: z.number(), beta: z.number().describe('Share of a candidate’s "none" carried by holdout decisions (see README, "Evaluating on the engine’s logs")') })
  .describe('How "no offer" probabilities are split between holdout and no-offer decisions');
const Area = z.object({ auuc: z.number(), randomAuuc: z.number(), coefficient: z.number() });

const TrainSchema = z
  .object({
    campaignId: z.string(),
    to: z.string().describe('Decisions made up to this instant were read'),
    rows: z.number().int(),
    holdoutRows: z.number().int(),
    skipped: z.number().int().describe('Decisions without a learner’s trace (static policy)'),
    actions: z.array(z.object({ action: z.string(), rows: z.number().int(), purchases: z.number().int(), meanWeight: z.number() })),
    split: Split,
    validation: z
      .object({ rows: z.number().int(), treated: z.number().int(), control: z.number().int(), qini: Area, uplift: Area })
      .nullable()
      .describe('Qini and uplift-curve areas on a random 20% of the decisions held out of training'),
    version: z.number().int().nullable().describe('The policy state version published'),
    trainedAt: z.string(),
  })
  .meta({ id: 'UpliftTraining' });

const EvaluationSchema = z
  .object({
    campaignId: z.string(),
    policy: z.string(),
    from: z.string(),
    to: z.string(),
    stateVersion: z.number().int().nullable(),
    skipped: z.number().int(),
    split: Split,
    features: z.number().int(),
    n: z.number().int(),
    level: z.number(),
    actions: z.array(z.string()),
    logging: Interval,
    clip: z.object({ cap: z.number(), clippedRows: z.number().int(), maxWeight: z.number() }),
    ess: z.number(),
    unloggedMass: z.number(),
    rewardModel: z.object({ kind: z.enum(['ridge', 'means']), folds: z.number().int() }),
    estimates: z.array(
      z.object({
        estimator: z.enum(['ips', 'snips', 'dr']),
        value: Interval,
        vsLogging: Interval,
        verdictVsLogging: Verdict,
        bestConstant: z.string(),
        vsBestConstant: Interval,
        verdictVsBestConstant: Verdict,
        constants: z.record(z.string(), Interval),
      }),
    ),
    verdict: Verdict,
  })
  .meta({ id: 'PolicyEvaluation' });

const Arm = z.object({ n: z.number(), buys: z.number(), mean: z.number(), sd: z.number(), weight: z.number().nullable() });
const LearningSummarySchema = z
  .object({
    campaignId: z.string(),
    policy: z.record(z.string(), z.unknown()),
    version: z.number().int().nullable(),
    updatedAt: z.string().nullable(),
    kind: z.enum(['contextual', 'uplift', 'thompson']).nullable(),
    trainedAt: z.string().nullable(),
    trials: z.number().nullable(),
    actions: z.array(z.object({ action: z.string(), n: z.number(), purchaseIntercept: z.number(), valueIntercept: z.number() })),
    segments: z.record(z.string(), z.record(z.string(), Arm)),
    shadow: z.record(z.string(), z.number()),
  })
  .meta({ id: 'LearningSummary' });

const EvaluateBody = z
  .object({
    campaignId: z.string().regex(/^cmp_/, 'a campaign id (cmp_…)'),
    policy: z
      .union([z.string().min(1).max(20_000), z.object({ engine: z.record(z.string(), z.unknown()).describe('A policy configuration, as a campaign’s `policy`') }).strict()])
      .describe('constant:<action> | uniform | current | engine:<policy config JSON> | { "engine": <policy config> }'),
    from: IsoInstant.optional().describe('Default: 30 days before `to`'),
    to: IsoInstant.optional().describe('Default: now, less the attribution window unless includeOpen'),
    includeOpen: z.boolean().optional().describe('Include decisions whose attribution window is still open'),
    stateVersion: z.number().int().min(1).optional().describe('The state version engine candidates replay (only the current one is stored)'),
    clip: z.number().positive().max(1e9).optional().describe('Largest importance weight kept (default 100)'),
    folds: z.number().int().min(2).max(100).optional(),
    seed: z.number().int().optional(),
  })
  .strict()
  .superRefine((q, ctx) => orderedWindow(q, ctx, true));

/** Offline learning: train the uplift model, evaluate candidate policies on the decision log, the learned state. */
export const learningRoutes: FastifyPluginAsyncZod<{ learning: LearningService }> = async (app, { learning }) => {
  app.post(
    '/v1/campaigns/:id/train',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['learning'],
        summary: 'Train the uplift T-learner on the campaign’s final logged decisions (IPS-weighted) and publish it as its next policy state version; with the held-out Qini/AUUC',
        params: IdParams,
        querystring: z.object({ all: z.enum(['true', 'false']).transform((v) => v === 'true').optional().describe('Also decisions whose attribution window is open') }).strict(),
        response: { 200: TrainSchema, ...errorReplies },
      },
    },
    async (req) => {
      const { state: _state, ...summary } = await learning.train({ campaignId: req.params.id, all: req.query.all });
      return summary;
    },
  );
  app.post(
    '/v1/evaluate',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['learning'],
        summary: 'Off-policy evaluation of a candidate policy on a campaign’s logged decisions: IPS, SNIPS and DR with 95% intervals, differences to the logging policy and the best constant action',
        body: EvaluateBody,
        response: { 200: EvaluationSchema, ...errorReplies },
      },
    },
    async (req) => learning.evaluate(req.body),
  );
  app.get(
    '/v1/campaigns/:id/learning',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['learning'],
        summary: 'The campaign’s learned state: policy, version, when trained, trials, per action n and intercepts (or Thompson arms), shadow prices',
        params: IdParams,
        response: { 200: LearningSummarySchema, ...errorReplies },
      },
    },
    async (req) => learning.summary(req.params.id),
  );
};
