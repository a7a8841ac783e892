import type { ReasonCode } from '../core/reasons.js';
import type { SubjectReads } from '../customers/port.js';
import type { Issuance } from '../wallet/port.js';

/**
 * The codes a commit can refuse with. Each is a core reason code (checked where the plan is
 * built, src/decisions/commit-plan.ts): the decide loop excludes or re-decides with it.
 */
export type CommitRefusal = 'OFFER_CHANGED' | 'GLOBAL_CAP' | 'BUDGET_EXHAUSTED' | 'DAILY_LIABILITY' | 'CUSTOMER_CAP' | 'FREQUENCY_CAP' | 'ALREADY_HELD';

/**
 * A conditional increment: add `amount` to `key` only if the total stays within `limit`;
 * otherwise the write is refused with `reason`. Decision commits refuse with a CommitRefusal;
 * redemptions and releases reuse the same counters with their own reasons.
 */
export interface CounterOp<Reason extends string = ReasonCode> {
  key: string;
  amount: number;
  limit: number;
  offerId: string;
  reason: Reason;
}

/** A check against the subject's own history, made under the subject's lock. */
export interface SubjectCheck {
  offerId: string;
  perCustomer: number | null;
  frequency: { count: number; windowMs: number } | null;
  /** Refuse if the subject already holds an open entry of the offer (a concurrent decision issued it). */
  notHeld: boolean;
}

/** A wallet entry (or a recorded showing of content) that a commit creates: the wallet's issuance, as first written. */
export type IssuanceRecord = Omit<Issuance, 'status'> & {
  /** Content is shown, not held: it counts for caps but is no wallet entry. */
  status: 'issued' | 'shown';
};

/** The decision log entry a commit writes. */
export interface DecisionRecord {
  id: string;
  /** The idempotency key (subject-scoped request id), null without one. */
  requestId: string | null;
  createdAt: number;
  campaignId: string | null;
  campaignVersion: number | null;
  subjectId: string;
  customerId: string | null;
  anonymousId: string | null;
  placement: string;
  channel: string;
  holdout: boolean;
  personalized: boolean;
  probability: number;
  policy: string | null;
  catalogVersion: number;
  /** The logged response and context, packed (src/core/log-codec.ts). */
  body: string;
  /** The offers shown (or, in the holdout, withheld): see offerKey. */
  offerKey: string | null;
  globalHoldout: boolean;
}

/** Everything a commit writes, computed once by the decide loop so every backend executes the same plan. */
export interface CommitPlan {
  /** The campaign and offer versions the decision used; the commit refuses if they are no longer live and current. */
  versionChecks: { campaign: { id: string; version: number } | null; offers: Array<{ offerId: string; version: number }> };
  subjectChecks: SubjectCheck[];
  /** Sorted by key so concurrent commits lock counters in one order and cannot deadlock. */
  counterOps: Array<CounterOp<CommitRefusal>>;
  issuances: IssuanceRecord[];
  decision: DecisionRecord;
}

export type CommitResult =
  | { status: 'committed'; counters: Record<string, number> }
  | { status: 'rejected'; offerId: string; reason: { code: CommitRefusal; detail?: string } }
  | { status: 'duplicate'; decisionId: string };

export type { StoredSubject, SubjectIssuance } from '../customers/port.js';

/** A logged decision as stored: the packed body is the response and what was logged beside it. */
export interface StoredDecision {
  id: string;
  requestId: string | null;
  createdAt: number;
  body: string;
}

/** What deciding and the decision log need from the store. */
export interface DecisionsPort extends SubjectReads {
  readCounters(keys: string[]): Promise<Map<string, number>>;
  /**
   * Executes a plan atomically: re-checks versions and the subject's caps, reserves every
   * counter op, records the issuances and logs the decision; all or nothing.
   */
  commitDecision(plan: CommitPlan): Promise<CommitResult>;
  findDecisionByRequestId(requestId: string): Promise<StoredDecision | null>;
  getDecision(id: string): Promise<StoredDecision | null>;
  listDecisions(opts: { subjectId?: string; campaignId?: string; limit: number }): Promise<StoredDecision[]>;
}
