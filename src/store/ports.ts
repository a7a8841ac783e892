import type { AuthPort } from '../auth/port.js';
import type { CatalogPort, CatalogSnapshotPort } from '../catalog/port.js';
import type { CustomerErasure, CustomersPort, SubjectReads } from '../customers/port.js';
import type { CommitPlan, CommitResult, DecisionsPort, StoredDecision } from '../decisions/port.js';
import type { IngestPort } from '../events/port.js';
import type { LearningPort } from '../learning/port.js';
import type { LedgerPort } from '../ledger/port.js';
import type { GuardLog, MeasurePort, MeasureReads } from '../measure/port.js';
import type { IssuanceReads, WalletPort } from '../wallet/port.js';

export type { CatalogData } from '../core/snapshot.js';
export type { ApiKeyRecord } from '../auth/port.js';
export type { Versioned, VersionedKind } from '../catalog/port.js';
export type { CustomerRecord, FeatureTotals, StoredSubject, SubjectIssuance } from '../customers/port.js';
// The decision path's records are defined by the decisions feature's port (the store implements it).
export type { CommitPlan, CommitRefusal, CommitResult, StoredDecision } from '../decisions/port.js';

/** The catalog, customers, keys and settings: written once with Kysely for every dialect. */
export interface AdminStore extends CatalogPort, CatalogSnapshotPort, AuthPort, Pick<CustomersPort, 'getCustomer' | 'putCustomer'> {
  /** Returns the setting, creating it with `make()` if absent (first writer wins across processes). */
  getOrCreateSetting(key: string, make: () => string): Promise<string>;
  getSetting(key: string): Promise<string | null>;
  putSetting(key: string, value: string): Promise<void>;
  getDecision(id: string): Promise<StoredDecision | null>;
  listDecisions(opts: { subjectId?: string; campaignId?: string; limit: number }): Promise<StoredDecision[]>;
}

/** The decision hot path: implemented per dialect for speed and exact concurrency semantics. */
export interface DecisionStore extends SubjectReads {
  readCounters(keys: string[]): Promise<Map<string, number>>;
  /**
   * Executes a decision's commit plan atomically: re-checks versions and caps, reserves every
   * guardrail counter, records the issuances and logs the decision; all or nothing.
   */
  commitDecision(plan: CommitPlan): Promise<CommitResult>;
  findDecisionByRequestId(requestId: string): Promise<StoredDecision | null>;
}

/** Reads for attribution, wallet, redemptions and reports: written once with Kysely. */
export interface OutcomeReads
  extends IssuanceReads,
    Pick<IngestPort, 'decisionRefs' | 'recentDecisions' | 'ordersByIds'>,
    Pick<WalletPort, 'getRedemption' | 'wallet' | 'dueExpiries'>,
    LedgerPort {
  /** Stored events per type of one subject. */
  eventCounts(subjectId: string): Promise<Record<string, number>>;
}

/** Outcome writes: implemented per dialect (single writer on SQLite, batched statements on PostgreSQL). */
export interface OutcomeWrites extends Pick<IngestPort, 'writeEvents'>, Pick<WalletPort, 'redeem' | 'rollback' | 'expire'> {}

/**
 * A backend: SQLite (embedded default) or PostgreSQL (several processes / machines). It is every
 * feature's port at once, so a backend missing a method a feature needs does not compile.
 */
export interface Store
  extends AdminStore,
    DecisionStore,
    OutcomeReads,
    OutcomeWrites,
    MeasureReads,
    GuardLog,
    CustomerErasure,
    CustomersPort,
    DecisionsPort,
    IngestPort,
    WalletPort,
    LedgerPort,
    MeasurePort,
    LearningPort {
  readonly dialect: 'sqlite' | 'postgres';
  migrate(): Promise<string[]>;
  close(): Promise<void>;
}
