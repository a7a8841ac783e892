import { z } from 'zod';
import type { Assert, Same } from '../http/type-check.js';
import type { StopLossResult } from './guard.js';
import type { IncrementalityReport, Readout } from './report.js';
import type { GuardLogEntry } from './service.js';

// The report types are large and computed in many places: they stay interfaces, and these
// schemas (the OpenAPI document, and reply validation in the suite) are checked against them.

const Reason = z.enum(['empty_arm', 'too_few_units', 'no_sessions', 'zero_variance', 'zero_baseline']);
const Verdict = z.enum(['insufficient_data', 'sample_ratio_mismatch', 'gains', 'loses', 'inconclusive']);
export const IntervalSchema = z.object({ estimate: z.number(), lower: z.number(), upper: z.number(), se: z.number() }).meta({ id: 'Interval' });
const Rate = z.number().nullable();

const ArmSummarySchema = z
  .object({
    status: z.enum(['ok', 'insufficient_data']),
    reason: Reason.nullable(),
    customers: z.number(),
    sessions: z.number(),
    orders: z.number(),
    conversionRate: Rate,
    aov: Rate,
    revenue: z.number().describe('Net of refunds and returns'),
    refunded: z.number(),
    revenuePerSession: Rate,
    cm: z.number(),
    cmPerSession: Rate,
    discountCost: z.number(),
    otherOfferCost: z.number().describe('Offer costs beyond the discount: loyalty points, gifts, financing fees'),
    pointsAwarded: z.number(),
    redemptions: z.number(),
    offersIssued: z.number(),
    redemptionRate: Rate,
  })
  .meta({ id: 'ArmSummary' });

const ComparisonSchema = z
  .object({
    status: z.enum(['ok', 'insufficient_data']),
    reason: Reason.nullable(),
    treatment: Rate,
    holdout: Rate,
    difference: IntervalSchema.nullable(),
    relativeLift: IntervalSchema.nullable(),
    pValue: Rate,
    sequential: IntervalSchema.nullable().optional().describe('Always-valid interval for the difference (with sequential)'),
  })
  .meta({ id: 'Comparison' });

const ArmCounts = z.object({ customers: z.number(), sessions: z.number(), orders: z.number(), cmPerSession: Rate });
const BreakdownRowSchema = z
  .object({
    key: z.string(),
    treatment: ArmCounts,
    holdout: ArmCounts,
    cmPerSession: z.object({ difference: IntervalSchema.nullable(), relativeLift: IntervalSchema.nullable() }),
    incrementalCm: IntervalSchema.nullable(),
    reason: Reason.nullable(),
  })
  .meta({ id: 'BreakdownRow' });

const OfferPnlSchema = z
  .object({
    offer: z.string(),
    issued: z.number(),
    redeemed: z.number(),
    discountCost: z.number(),
    otherOfferCost: z.number(),
    incrementalRevenue: IntervalSchema.nullable(),
    incrementalCm: IntervalSchema.nullable(),
    incrementalOrders: IntervalSchema.nullable(),
    reason: Reason.nullable(),
    costPerIncrementalOrder: Rate,
    breakage: Rate,
    liabilityOutstanding: Rate,
    issues: z.object({ issued: z.number(), redeemed: z.number(), expired: z.number(), open: z.number() }).nullable(),
  })
  .meta({ id: 'OfferPnl' });

export const IncrementalityReportSchema = z
  .object({
    campaignId: z.string().nullable(),
    arm: z.enum(['campaign', 'global']),
    from: z.string(),
    to: z.string(),
    level: z.number(),
    arms: z.object({ treatment: ArmSummarySchema, holdout: ArmSummarySchema }),
    metrics: z.object({ conversionRate: ComparisonSchema, aov: ComparisonSchema, revenuePerSession: ComparisonSchema, cmPerSession: ComparisonSchema }),
    incrementalCm: IntervalSchema.nullable(),
    minimumDetectableEffect: Rate,
    reason: Reason.nullable(),
    srm: z.object({
      mismatch: z.boolean(),
      checks: z.array(
        z.object({ campaignId: z.string(), holdoutShareDesigned: z.number(), customers: z.object({ treatment: z.number(), holdout: z.number() }), chi2: z.number(), pValue: z.number(), mismatch: z.boolean() }),
      ),
    }),
    sample: z.object({ minCustomersPerArm: z.number(), minDays: z.number(), days: z.number(), met: z.boolean() }),
    verdict: Verdict,
    warnings: z.array(z.string()),
    breakdowns: z
      .object({
        cohort: z.array(BreakdownRowSchema),
        placement: z.array(BreakdownRowSchema),
        channel: z.array(BreakdownRowSchema),
        offer: z.array(BreakdownRowSchema),
        offerValue: z.array(BreakdownRowSchema),
      })
      .optional(),
    offers: z.array(OfferPnlSchema).optional(),
  })
  .meta({ id: 'IncrementalityReport' });

export const ReadoutSchema = z
  .object({
    threshold: z.number(),
    windows: z.array(z.object({ from: z.string(), to: z.string(), relativeLift: IntervalSchema.nullable(), incrementalCm: IntervalSchema.nullable(), verdict: Verdict })),
    verdict: z.enum(['pays', 'does_not_pay', 'loses', 'insufficient_data']),
    explanation: z.string(),
  })
  .meta({ id: 'Readout' });

export const SampleSizeSchema = z
  .object({ customers: z.number().describe('Customers needed (an integer; beyond 2^53 for tiny effects)'), mde: z.number(), level: z.number(), power: z.number(), holdoutPct: z.number() })
  .meta({ id: 'SampleSize' });

const StopLossResultSchema = z.object({
  campaignId: z.string(),
  action: z.enum(['paused', 'none']),
  verdict: z.string(),
  incrementalCm: z.object({ estimate: z.number(), lower: z.number(), upper: z.number() }).nullable(),
});
export const StopLossRunSchema = z.object({ results: z.array(StopLossResultSchema) }).meta({ id: 'StopLossRun' });

const GuardLogEntrySchema = z.object({ id: z.string(), campaignId: z.string(), at: z.string(), action: z.string(), evidence: z.unknown() });
export const GuardLogSchema = z.object({ entries: z.array(GuardLogEntrySchema) }).meta({ id: 'GuardLog' });

export type _IncrementalityAgrees = Assert<Same<z.infer<typeof IncrementalityReportSchema>, IncrementalityReport>>;
export type _ReadoutAgrees = Assert<Same<z.infer<typeof ReadoutSchema>, Readout>>;
export type _StopLossAgrees = Assert<Same<z.infer<typeof StopLossResultSchema>, StopLossResult>>;
export type _GuardLogAgrees = Assert<Same<z.infer<typeof GuardLogEntrySchema>, GuardLogEntry>>;
