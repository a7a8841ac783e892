import type { VersionReads } from '../catalog/port.js';
import type { ReasonCode } from '../core/reasons.js';

/** An offer issued (or content shown) to a subject by a decision; money in minor units, times epoch ms. */
export interface Issuance {
  id: string;
  decisionId: string;
  offerId: string;
  offerVersion: number;
  campaignId: string;
  subjectId: string;
  customerId: string | null;
  channel: string;
  placement: string;
  value: number | null;
  discount: number;
  /** The expected cost at issue: the liability it carries until redeemed or expired. */
  cost: number;
  /** What the budget and daily-liability counters hold for it. */
  reserved: number;
  points: number;
  /** The UTC day whose daily-liability counter holds its reservation. */
  liabilityDay: string;
  issuedAt: number;
  expiresAt: number;
  /** 'issued', 'redeemed', 'expired' or 'shown' (content). */
  status: string;
  code: string | null;
}

/** What one redemption took from one issuance. */
export interface RedemptionItem {
  issuanceId: string;
  offerId: string;
  discount: number;
  cost: number;
  points: number;
}

/** A redemption of an order id, as stored. */
export interface RedemptionRecord {
  id: string;
  orderId: string;
  subjectId: string;
  customerId: string | null;
  channel: string;
  /** 'applied' or 'rolled_back'. */
  status: string;
  createdAt: number;
  rolledBackAt: number | null;
  discount: number;
  cost: number;
  points: number;
  /** The redemption view answered (JSON). */
  body: string;
  /** Digest of the request (customer, channel, tokens, cart); null on rows from before it was kept. */
  fingerprint: string | null;
}

/** A stored redemption with its items. */
export interface StoredRedemption extends RedemptionRecord {
  items: RedemptionItem[];
}

/** One liability move of an issuance (redeem, rollback, expire). */
export interface LedgerEntry {
  id: string;
  issuanceId: string;
  offerId: string;
  kind: 'redeem' | 'rollback' | 'expire';
  day: string;
  at: number;
  liability: number;
  cost: number;
  points: number;
  redemptionId: string | null;
}

/** A conditional counter move: add `amount` to `key` only if the total stays within `limit`. */
export interface CounterMove {
  key: string;
  amount: number;
  limit: number;
  offerId: string;
  /** The guardrail refused when the move does not fit. */
  reason: ReasonCode;
}

/**
 * Why a redemption (or one of its tokens) was refused; codes are API error codes. The index is
 * the token's, or -1 for ORDER_DISCOUNT_MISMATCH: the order id was already reported as an order
 * with another discount than this redemption computes (orders and redemptions must agree,
 * whichever arrives first).
 */
export type RedeemFailure = {
  index: number;
  code: 'TOKEN_ALREADY_REDEEMED' | 'TOKEN_EXPIRED' | 'REDEMPTION_CAP_REACHED' | 'BUDGET_EXHAUSTED' | 'DAILY_LIABILITY_EXCEEDED' | 'ORDER_DISCOUNT_MISMATCH';
  message: string;
};

/** Everything a redemption writes, computed before the transaction so both dialects run the same plan. */
export interface RedemptionPlan {
  now: number;
  redemption: RedemptionRecord;
  /** The token index each item came from. */
  items: Array<RedemptionItem & { index: number }>;
  /** Sorted by key (lock order), as for decision commits. */
  counterOps: Array<CounterMove & { index: number }>;
  ledger: LedgerEntry[];
}

export type RedeemResult =
  | { status: 'applied' }
  | { status: 'duplicate'; redemption: RedemptionRecord }
  | { status: 'rejected'; failure: RedeemFailure };

/** Undoing a redemption: issuances back to the wallet (or expired), counters restored, ledger entries. */
export interface RollbackPlan {
  now: number;
  redemptionId: string;
  issuances: Array<{ id: string; toStatus: 'issued' | 'expired' }>;
  counterOps: CounterMove[];
  ledger: LedgerEntry[];
}

/** An issuance about to expire unredeemed: status change, reservation release and ledger entry. */
export interface ExpiryWrite {
  issuanceId: string;
  counterOps: CounterMove[];
  ledger: LedgerEntry;
}

/** Reads of issuances and redemptions that attribution and the wallet both make. */
export interface IssuanceReads {
  issuancesByIds(ids: string[]): Promise<Issuance[]>;
  issuancesByCodes(codes: string[]): Promise<Issuance[]>;
  redemptionsByOrderIds(orderIds: string[]): Promise<StoredRedemption[]>;
}

/** What the wallet (listing, redemption, rollback, expiry) needs from the store. */
export interface WalletPort extends IssuanceReads, VersionReads {
  getRedemption(id: string): Promise<StoredRedemption | null>;
  /** Wallet entries of a customer (issued to them or to their subject), still issued and unexpired at `now`; newest first, `limit` after the `after` entry. */
  wallet(customerId: string, now: number, page: { limit: number; after?: { issuedAt: number; id: string } }): Promise<Issuance[]>;
  /** Issued, unredeemed issuances whose expiry is in [from, now] (oldest first). */
  dueExpiries(now: number, limit: number, from?: number): Promise<Issuance[]>;
  redeem(plan: RedemptionPlan): Promise<RedeemResult>;
  /** Returns false if the redemption was not (or no longer) applied. */
  rollback(plan: RollbackPlan): Promise<boolean>;
  /** Expires the given issuances if still issued; returns how many it expired. */
  expire(items: ExpiryWrite[]): Promise<number>;
}
