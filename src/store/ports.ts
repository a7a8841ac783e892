import type { MeasureReads } from './measure-reads.js';
import type { Campaign, Offer, Product, Status } from '../core/catalog.js';
import type { Decision } from '../core/decide.js';
import type { Reason } from '../core/reasons.js';
import type { Consent } from '../core/request.js';
import type { DB } from './schema.js';
import type { DecisionRef, EventWrite, EventWriteResult, ExpiryWrite, RedeemResult, RedemptionPlan, RollbackPlan } from './outcome-plan.js';

export type { CatalogData } from '../core/snapshot.js';
import type { CatalogData } from '../core/snapshot.js';

export interface CustomerRecord {
  id: string;
  traits: Record<string, unknown>;
  consent: Consent;
  createdAt: number;
  updatedAt: number;
}

export interface StoredSubject {
  traits: Record<string, unknown>;
  consent: Consent;
  /** Every issuance to the subject (caps count them), with what the open ones need to be presented again. */
  issuances: SubjectIssuance[];
  /** Order aggregates kept current by event ingestion (null: none seen, or not asked for). */
  features: DB['customer_features'] | null;
  /** Impression events since `impressionsSince` (0 when features were not asked for). */
  impressions: number;
}

export interface SubjectIssuance {
  id: string;
  offerId: string;
  version: number;
  issuedAt: number;
  expiresAt: number;
  status: string;
  value: number | null;
  code: string | null;
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  hash: string;
  scopes: string[];
  createdAt: number;
  revokedAt: number | null;
}

/** What the commit step writes besides the decision itself. */
export interface CommitMeta {
  decisionId: string;
  issuanceIds: string[];
  /** Coupon codes of the issuances (e-mail, SMS, push), null where none. */
  codes?: Array<string | null>;
  requestId?: string;
  catalogVersion: number;
  /** The decision log entry as JSON (candidates, context, versions). */
  body: string;
}

export type CommitResult =
  | { status: 'committed'; counters: Record<string, number> }
  | { status: 'rejected'; offerId: string; reason: Reason }
  | { status: 'duplicate'; decisionId: string };

export interface StoredDecision {
  id: string;
  requestId: string | null;
  createdAt: number;
  body: string;
}

export type VersionedKind = 'offer' | 'campaign';
export type Versioned<K extends VersionedKind> = K extends 'offer' ? Offer : Campaign;

/** The catalog, customers, keys and settings: written once with Kysely for every dialect. */
export interface AdminStore {
  catalogVersion(): Promise<number>;
  loadCatalog(): Promise<CatalogData>;
  /** Writes a new immutable version (version 1 creates the record) and bumps the catalog version. */
  /** Writes a new version; `changedBy` is the actor id recorded beside it. */
  putVersion<K extends VersionedKind>(kind: K, record: Versioned<K>, changedBy?: string): Promise<void>;
  setStatus(kind: VersionedKind, id: string, status: Status, at: number, changedBy?: string): Promise<void>;
  /** Who made each version of a record, and its last status change (null: before actors were recorded). */
  changeActors(kind: VersionedKind, id: string): Promise<{ versions: Array<{ version: number; changedBy: string | null }>; statusChangedBy: string | null }>;
  getVersioned<K extends VersionedKind>(kind: K, id: string, version?: number): Promise<Versioned<K> | null>;
  listVersioned<K extends VersionedKind>(kind: K, status?: Status): Promise<Array<Versioned<K>>>;
  listVersions<K extends VersionedKind>(kind: K, id: string): Promise<Array<Versioned<K>>>;
  upsertProducts(products: Product[], at: number): Promise<number>;
  getProduct(sku: string): Promise<Product | null>;
  listProducts(opts: { after?: string; limit: number }): Promise<Product[]>;
  getCustomer(id: string): Promise<CustomerRecord | null>;
  putCustomer(id: string, traits: Record<string, unknown>, consent: Consent, at: number): Promise<CustomerRecord>;
  createKey(rec: ApiKeyRecord): Promise<void>;
  findKeyByHash(hash: string): Promise<ApiKeyRecord | null>;
  listKeys(): Promise<ApiKeyRecord[]>;
  revokeKey(id: string, at: number): Promise<boolean>;
  /** Returns the setting, creating it with `make()` if absent (first writer wins across processes). */
  getOrCreateSetting(key: string, make: () => string): Promise<string>;
  getSetting(key: string): Promise<string | null>;
  putSetting(key: string, value: string): Promise<void>;
  getDecision(id: string): Promise<StoredDecision | null>;
  listDecisions(opts: { subjectId?: string; campaignId?: string; limit: number }): Promise<StoredDecision[]>;
}

/** The decision hot path: implemented per dialect for speed and exact concurrency semantics. */
export interface DecisionStore {
  /**
   * The subject's profile and issuance history, plus its features and the impressions since
   * `impressionsSince` when that is given (null: no rule reads features, so the reads are skipped).
   */
  loadSubject(subjectId: string, customerId: string | null, impressionsSince: number | null): Promise<StoredSubject>;
  readCounters(keys: string[]): Promise<Map<string, number>>;
  /**
   * Atomically re-checks and reserves every guardrail for the chosen offers, records the
   * issuances and logs the decision; all or nothing.
   */
  commitDecision(decision: Decision, meta: CommitMeta): Promise<CommitResult>;
  findDecisionByRequestId(requestId: string): Promise<StoredDecision | null>;
}

/** Reads for attribution, wallet, redemptions and reports: written once with Kysely. */
export interface OutcomeReads {
  decisionRefs(ids: string[]): Promise<DecisionRef[]>;
  /** Campaign decisions of these subjects made in [from, to], newest first within each subject. */
  recentDecisions(subjectIds: string[], from: number, to: number): Promise<DecisionRef[]>;
  issuancesByIds(ids: string[]): Promise<Array<DB['issuances']>>;
  issuancesByCodes(codes: string[]): Promise<Array<DB['issuances']>>;
  redemptionsByOrderIds(orderIds: string[]): Promise<Array<DB['redemptions'] & { items: Array<DB['redemption_items']> }>>;
  ordersByIds(orderIds: string[]): Promise<Array<DB['orders']>>;
  getRedemption(id: string): Promise<(DB['redemptions'] & { items: Array<DB['redemption_items']> }) | null>;
  /** Wallet entries of a customer (issued to them or to their subject), still issued and unexpired at `now`; newest first, `limit` after the `after` entry. */
  wallet(customerId: string, now: number, page: { limit: number; after?: { issuedAt: number; id: string } }): Promise<Array<DB['issuances']>>;
  /** Issued, unredeemed issuances whose expiry is in [from, now] (oldest first). */
  dueExpiries(now: number, limit: number, from?: number): Promise<Array<DB['issuances']>>;
  /** Issue totals per offer and day (from the wallet) and every later liability move. */
  liabilityData(): Promise<{
    issued: Array<{ offer_id: string; day: string; count: number; liability: number; points: number }>;
    moves: Array<{ offer_id: string; day: string; kind: string; count: number; liability: number; cost: number; points: number }>;
  }>;
  eventCounts(subjectId: string): Promise<Record<string, number>>;
  /** Erases a customer: profile, features and personal data; outcomes stay under `pseudonym`. Returns whether anything was found. */
  eraseCustomer(customerId: string, pseudonym: string, scrubDecision: (body: string) => string): Promise<boolean>;
}

/** Outcome writes: implemented per dialect (single writer on SQLite, batched statements on PostgreSQL). */
export interface OutcomeWrites {
  /** Writes events idempotently by id; orders once per order id; features move only for new events. */
  writeEvents(items: EventWrite[]): Promise<EventWriteResult>;
  redeem(plan: RedemptionPlan): Promise<RedeemResult>;
  /** Returns false if the redemption was not (or no longer) applied. */
  rollback(plan: RollbackPlan): Promise<boolean>;
  /** Expires the given issuances if still issued; returns how many it expired. */
  expire(items: ExpiryWrite[]): Promise<number>;
}

/** A backend: SQLite (embedded default) or PostgreSQL (several processes / machines). */
export interface Store extends AdminStore, DecisionStore, OutcomeReads, OutcomeWrites, MeasureReads {
  readonly dialect: 'sqlite' | 'postgres';
  migrate(): Promise<string[]>;
  close(): Promise<void>;
}
