/** Issue totals of one offer on one UTC day (content shown carries no liability and is left out). */
export interface IssuedTotals {
  offerId: string;
  day: string;
  count: number;
  liability: number;
  points: number;
}

/** Liability moves of one kind (redeem, rollback, expire) for one offer on one UTC day. */
export interface LiabilityMoveTotals {
  offerId: string;
  day: string;
  kind: string;
  count: number;
  liability: number;
  cost: number;
  points: number;
}

/** What the liability ledger reads from the store. */
export interface LedgerPort {
  /** Issue totals per offer and day (from the wallet) and every later liability move. */
  liabilityData(): Promise<{ issued: IssuedTotals[]; moves: LiabilityMoveTotals[] }>;
}
