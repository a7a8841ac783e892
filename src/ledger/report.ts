import type { LedgerPort } from './port.js';

/** One offer's liability movements on one UTC day, minor units (points in points). */
export interface LiabilityDay {
  day: string;
  issued: { count: number; liability: number };
  redeemed: { count: number; liabilityReleased: number; cost: number };
  rolledBack: { count: number; liabilityRestored: number; cost: number };
  expired: { count: number; breakage: number };
  pointsAwarded: number;
  /** Issued-but-unredeemed liability at the end of the day. */
  outstanding: number;
  /** Loyalty points awarded and not rolled back, at the end of the day. */
  pointsOutstanding: number;
  /** Their value at the offer's point value. */
  pointsLiability: number;
}

export interface LiabilityReport {
  asOf: string;
  from: string | null;
  to: string | null;
  offers: Array<{ offerId: string; days: LiabilityDay[]; outstanding: number; pointsOutstanding: number; pointsLiability: number; breakage: number; redeemedCost: number }>;
  totals: { outstanding: number; pointsOutstanding: number; pointsLiability: number; breakage: number; redeemedCost: number; issued: number; redeemed: number; expired: number };
}

const emptyDay = (day: string): LiabilityDay => ({
  day,
  issued: { count: 0, liability: 0 },
  redeemed: { count: 0, liabilityReleased: 0, cost: 0 },
  rolledBack: { count: 0, liabilityRestored: 0, cost: 0 },
  expired: { count: 0, breakage: 0 },
  pointsAwarded: 0,
  outstanding: 0,
  pointsOutstanding: 0,
  pointsLiability: 0,
});

/**
 * Liabilities per offer and day. Issued, unredeemed offers are a liability at their full cost;
 * redemption replaces it with the actual cost (and any loyalty points, which stay a liability);
 * expiry turns it into breakage; a rollback restores it. Run the expiry sweep first so that
 * breakage is current. Running balances start at the first day ever, whatever the window.
 */
export async function liabilityReport(
  store: LedgerPort,
  opts: { from?: string; to?: string; offerId?: string; now: number; pointValue: (offerId: string) => number },
): Promise<LiabilityReport> {
  const data = await store.liabilityData();
  const byOffer = new Map<string, Map<string, LiabilityDay>>();
  const dayOf = (offer: string, day: string) => {
    let m = byOffer.get(offer);
    if (!m) byOffer.set(offer, (m = new Map()));
    let d = m.get(day);
    if (!d) m.set(day, (d = emptyDay(day)));
    return d;
  };
  for (const r of data.issued) {
    const d = dayOf(r.offerId, r.day);
    d.issued.count += r.count;
    d.issued.liability += r.liability;
  }
  for (const m of data.moves) {
    const d = dayOf(m.offerId, m.day);
    if (m.kind === 'redeem') {
      d.redeemed.count += m.count;
      d.redeemed.liabilityReleased += -m.liability;
      d.redeemed.cost += m.cost;
      d.pointsAwarded += m.points;
    } else if (m.kind === 'rollback') {
      d.rolledBack.count += m.count;
      d.rolledBack.liabilityRestored += m.liability;
      d.rolledBack.cost += -m.cost;
      d.pointsAwarded += m.points;
    } else if (m.kind === 'expire') {
      d.expired.count += m.count;
      d.expired.breakage += -m.liability;
    }
  }
  const report: LiabilityReport = {
    asOf: new Date(opts.now).toISOString(),
    from: opts.from ?? null,
    to: opts.to ?? null,
    offers: [],
    totals: { outstanding: 0, pointsOutstanding: 0, pointsLiability: 0, breakage: 0, redeemedCost: 0, issued: 0, redeemed: 0, expired: 0 },
  };
  for (const [offerId, days] of [...byOffer.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (opts.offerId !== undefined && offerId !== opts.offerId) continue;
    let outstanding = 0;
    let points = 0;
    let breakage = 0;
    let redeemedCost = 0;
    const pv = opts.pointValue(offerId);
    const out: LiabilityDay[] = [];
    for (const d of [...days.values()].sort((a, b) => (a.day < b.day ? -1 : 1))) {
      outstanding += d.issued.liability - d.redeemed.liabilityReleased + d.rolledBack.liabilityRestored - d.expired.breakage;
      points += d.pointsAwarded;
      breakage += d.expired.breakage;
      redeemedCost += d.redeemed.cost - d.rolledBack.cost;
      d.outstanding = outstanding;
      d.pointsOutstanding = points;
      d.pointsLiability = Math.round(points * pv);
      report.totals.issued += d.issued.count;
      report.totals.redeemed += d.redeemed.count - d.rolledBack.count;
      report.totals.expired += d.expired.count;
      if ((opts.from === undefined || d.day >= opts.from) && (opts.to === undefined || d.day <= opts.to)) out.push(d);
    }
    const pointsLiability = Math.round(points * pv);
    report.offers.push({ offerId, days: out, outstanding, pointsOutstanding: points, pointsLiability, breakage, redeemedCost });
    report.totals.outstanding += outstanding;
    report.totals.pointsOutstanding += points;
    report.totals.pointsLiability += pointsLiability;
    report.totals.breakage += breakage;
    report.totals.redeemedCost += redeemedCost;
  }
  return report;
}
