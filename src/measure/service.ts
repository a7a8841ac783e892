import type { Logger } from 'pino';
import { SYSTEM_ACTOR, type Actor } from '../auth/principal.js';
import type { CatalogService } from '../catalog/service.js';
import type { Clock } from '../core/runtime.js';
import type { IdGenerator } from '../ids/index.js';
import { stopLoss, type StopLossResult } from './guard.js';
import { PROGRAM, type MeasurePort } from './port.js';
import { incrementalityReport, readout, type IncrementalityQuery, type IncrementalityReport, type MeasureSettings, type Readout, type ReportDeps } from './report.js';

export interface MeasureServiceDeps {
  port: MeasurePort;
  catalog: CatalogService;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  settings: MeasureSettings;
  /** The program-level holdout share, percent. */
  globalHoldoutPct: number;
}

/** A stop-loss action on a campaign, as the API shows it. */
export interface GuardLogEntry {
  id: string;
  campaignId: string;
  at: string;
  action: string;
  evidence: unknown;
}

/** Incrementality: treatment against holdout in contribution margin; readout; stop-loss. */
export class MeasureService {
  constructor(private readonly d: MeasureServiceDeps) {}

  /** Treatment against holdout over a window, for one campaign or the whole program. */
  async incrementality(query: IncrementalityQuery = {}): Promise<IncrementalityReport> {
    if (query.campaignId) await this.d.catalog.getCampaign(query.campaignId);
    return incrementalityReport(await this.reportDeps(), query);
  }

  /** The verdict over the last two 30-day windows. */
  async readout(query: { campaignId?: string | null; to?: string; level?: number } = {}): Promise<Readout> {
    if (query.campaignId) await this.d.catalog.getCampaign(query.campaignId);
    return readout(await this.reportDeps(), query);
  }

  /** Pauses live campaigns whose incremental CM is surely negative; returns what it found. The pauses are attributed to `actor`. */
  async stopLoss(actor: Actor = SYSTEM_ACTOR): Promise<StopLossResult[]> {
    const { catalog, logger, port, ids } = this.d;
    return stopLoss({
      ...(await this.reportDeps()),
      campaigns: () => catalog.listCampaigns('live'),
      pause: async (id) => {
        // Every process runs the stop-loss: the first to pause wins, the others see it paused.
        if ((await catalog.getCampaign(id)).status !== 'live') return false;
        try {
          await catalog.transitionCampaign(id, 'paused', actor);
        } catch (err) {
          if ((await catalog.getCampaign(id)).status !== 'live') return false;
          throw err;
        }
        logger.warn({ campaignId: id }, 'campaign paused by stop-loss: incremental contribution margin is below zero');
        return true;
      },
      log: (entry) => port.logGuardAction(entry),
      newId: () => ids('guard'),
    });
  }

  /** Automatic actions on a campaign (stop-loss pauses) with their evidence. */
  async guardLog(campaignId: string): Promise<GuardLogEntry[]> {
    await this.d.catalog.getCampaign(campaignId);
    return (await this.d.port.guardLog(campaignId)).map((r) => ({ id: r.id, campaignId: r.campaignId, at: new Date(r.at).toISOString(), action: r.action, evidence: JSON.parse(r.evidence) as unknown }));
  }

  private async reportDeps(): Promise<ReportDeps> {
    const campaigns = new Map((await this.d.catalog.listCampaigns()).map((c) => [c.id, c]));
    const holdout = this.d.globalHoldoutPct;
    return {
      store: this.d.port,
      now: this.d.clock.now(),
      settings: this.d.settings,
      campaign: (id) => {
        if (id === PROGRAM) return { holdoutShare: holdout / 100, createdAt: 0 };
        const c = campaigns.get(id);
        // Campaign holdouts are drawn among customers outside the program-level holdout.
        return c ? { holdoutShare: c.holdoutPct / 100, createdAt: Date.parse(c.createdAt) } : null;
      },
    };
  }
}
