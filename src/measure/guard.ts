import type { Campaign } from '../core/catalog.js';
import type { GuardAction } from './port.js';
import { incrementalityReport, type ReportDeps } from './report.js';

const DAY = 86_400_000;
/** How far back the stop-loss looks: the campaign's life, at most this long. */
const STOP_LOSS_LOOKBACK_MS = 90 * DAY;

export interface StopLossResult {
  campaignId: string;
  action: 'paused' | 'none';
  verdict: string;
  /** Null when the campaign's arms are too small for an interval (its verdict is then insufficient_data). */
  incrementalCm: { estimate: number; lower: number; upper: number } | null;
}

/**
 * Stop-loss: every live campaign with a holdout is measured over its life (up to 90 days); one
 * whose whole interval of incremental contribution margin is below zero — after its minimum
 * sample, with no sample-ratio mismatch — is paused, and the pause is logged with the evidence.
 */
export async function stopLoss(
  deps: ReportDeps & {
    campaigns: () => Promise<Campaign[]>;
    /** Pauses the campaign; false if it was no longer live (another process got there first). */
    pause: (campaignId: string) => Promise<boolean>;
    log: (entry: GuardAction) => Promise<void>;
    newId: () => string;
  },
): Promise<StopLossResult[]> {
  const out: StopLossResult[] = [];
  for (const c of await deps.campaigns()) {
    if (c.status !== 'live' || c.holdoutPct <= 0) continue;
    const from = Math.max(Date.parse(c.createdAt), deps.now - STOP_LOSS_LOOKBACK_MS);
    const r = await incrementalityReport(deps, { campaignId: c.id, from: new Date(from).toISOString(), to: new Date(deps.now).toISOString(), breakdowns: false });
    const result: StopLossResult = { campaignId: c.id, action: 'none', verdict: r.verdict, incrementalCm: r.incrementalCm };
    if (r.verdict === 'loses' && (await deps.pause(c.id))) {
      await deps.log({
        id: deps.newId(),
        campaignId: c.id,
        at: deps.now,
        action: 'paused_by_stop_loss',
        evidence: JSON.stringify({
          window: { from: r.from, to: r.to },
          arms: { treatment: r.arms.treatment, holdout: r.arms.holdout },
          cmPerSession: r.metrics.cmPerSession,
          incrementalCm: r.incrementalCm,
          srm: r.srm,
          sample: r.sample,
        }),
      });
      result.action = 'paused';
    }
    out.push(result);
  }
  return out;
}
