import type { Clock } from '../core/runtime.js';
import type { CatalogSnapshot } from '../core/snapshot.js';
import type { Wallet } from '../wallet/service.js';
import type { LedgerPort } from './port.js';
import { liabilityReport, type LiabilityReport } from './report.js';

/** Liabilities per offer and day, with breakage booked by the expiry sweep first. */
export class LedgerService {
  constructor(
    private readonly port: LedgerPort,
    private readonly wallet: Wallet,
    private readonly snapshot: () => Promise<CatalogSnapshot>,
    private readonly clock: Clock,
    private readonly pointValue: number,
  ) {}

  /** Liabilities per offer and day (runs the expiry sweep first so breakage is current). */
  async liabilities(query: { from?: string; to?: string; offerId?: string }): Promise<LiabilityReport> {
    await this.wallet.sweep(Number.MAX_SAFE_INTEGER);
    const s = await this.snapshot();
    return liabilityReport(this.port, { ...query, now: this.clock.now(), pointValue: (id) => s.offers.get(id)?.offer.pointValue ?? this.pointValue });
  }
}
