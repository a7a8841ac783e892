import { counterKeys } from '../decide/counter-keys.js';
import type { ReasonCode } from '../decide/reasons.js';
import { utcDay } from '../runtime/index.js';
import type { CounterOp } from './commit-plan.js';
import type { DB } from './schema.js';

/** A change to one subject's stored features, applied only if its event (or order) is new. */
export interface FeatureDelta {
  subjectId: string;
  orders: number;
  orderAt: number | null;
  revenue: number;
  refunded: number;
  offerOrders: number;
  offerDiscount: number;
  offerSubtotal: number;
}

/** One event to write: the event row, its order (order events) and its feature change. */
export interface EventWrite {
  event: DB['events'];
  order?: DB['orders'];
  delta?: FeatureDelta;
}

export interface EventWriteResult {
  inserted: number;
  duplicates: number;
}

/** A decision as attribution sees it. */
export interface DecisionRef {
  id: string;
  subjectId: string;
  campaignId: string | null;
  holdout: boolean;
  createdAt: number;
}

/** Why a redemption (or one of its tokens) was refused; codes are API error codes. */
export type RedeemFailure = {
  index: number;
  code: 'TOKEN_ALREADY_REDEEMED' | 'TOKEN_EXPIRED' | 'REDEMPTION_CAP_REACHED' | 'BUDGET_EXHAUSTED' | 'DAILY_LIABILITY_EXCEEDED';
  message: string;
};

/** Everything a redemption writes, computed before the transaction so both dialects run the same plan. */
export interface RedemptionPlan {
  now: number;
  redemption: DB['redemptions'];
  items: Array<DB['redemption_items'] & { index: number }>;
  /** Sorted by key (lock order), as for decision commits. */
  counterOps: Array<CounterOp & { index: number }>;
  ledger: Array<DB['liability_ledger']>;
}

export type RedeemResult =
  | { status: 'applied' }
  | { status: 'duplicate'; redemption: DB['redemptions'] }
  | { status: 'rejected'; failure: RedeemFailure };

/** Undoing a redemption: issuances back to the wallet (or expired), counters restored, ledger entries. */
export interface RollbackPlan {
  now: number;
  redemptionId: string;
  issuances: Array<{ id: string; toStatus: 'issued' | 'expired' }>;
  counterOps: CounterOp[];
  ledger: Array<DB['liability_ledger']>;
}

/** Maps a counter reason to its redemption error. */
export const COUNTER_FAILURE: Partial<Record<ReasonCode, RedeemFailure['code']>> = {
  REDEMPTION_CAP: 'REDEMPTION_CAP_REACHED',
  BUDGET_EXHAUSTED: 'BUDGET_EXHAUSTED',
  DAILY_LIABILITY: 'DAILY_LIABILITY_EXCEEDED',
};

/** An issuance about to expire unredeemed: status change, reservation release and ledger entry. */
export interface ExpiryWrite {
  issuanceId: string;
  counterOps: CounterOp[];
  ledger: DB['liability_ledger'];
}

const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** Counter moves that give back an amount previously reserved (never refused). */
export function releaseOps(offerId: string, day: string, amount: number): CounterOp[] {
  if (amount === 0) return [];
  return [
    { key: counterKeys.spent(offerId), amount: -amount, limit: UNLIMITED, offerId, reason: 'BUDGET_EXHAUSTED' as ReasonCode },
    { key: counterKeys.daily(offerId, day), amount: -amount, limit: UNLIMITED, offerId, reason: 'DAILY_LIABILITY' as ReasonCode },
  ].sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** What expiring one unredeemed issuance writes: its reservation is released and its liability becomes breakage. */
export function expiryWrite(iss: Pick<DB['issuances'], 'id' | 'offer_id' | 'liability_day' | 'reserved' | 'cost' | 'expires_at'>): ExpiryWrite {
  return {
    issuanceId: iss.id,
    counterOps: releaseOps(iss.offer_id, iss.liability_day, Number(iss.reserved)),
    ledger: {
      id: `${iss.id}:expire`,
      issuance_id: iss.id,
      offer_id: iss.offer_id,
      kind: 'expire',
      day: utcDay(Number(iss.expires_at)),
      at: Number(iss.expires_at),
      liability: -Number(iss.cost),
      cost: 0,
      points: 0,
      redemption_id: null,
    },
  };
}
