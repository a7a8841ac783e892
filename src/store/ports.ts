import type { Campaign, Offer, Product, Status } from '../catalog/schemas.js';
import type { Decision } from '../decide/decide.js';
import type { Reason } from '../decide/reasons.js';
import type { Consent } from '../decide/request.js';

/** Everything the decision hot path reads from the catalog, loaded at once. */
export interface CatalogData {
  version: number;
  offers: Offer[];
  campaigns: Campaign[];
  products: Product[];
}

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
  issuances: Array<{ offerId: string; issuedAt: number }>;
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
  putVersion<K extends VersionedKind>(kind: K, record: Versioned<K>): Promise<void>;
  setStatus(kind: VersionedKind, id: string, status: Status, at: number): Promise<void>;
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
  loadSubject(subjectId: string, customerId: string | null): Promise<StoredSubject>;
  readCounters(keys: string[]): Promise<Map<string, number>>;
  /**
   * Atomically re-checks and reserves every guardrail for the chosen offers, records the
   * issuances and logs the decision; all or nothing.
   */
  commitDecision(decision: Decision, meta: CommitMeta): Promise<CommitResult>;
  findDecisionByRequestId(requestId: string): Promise<StoredDecision | null>;
}

/** A backend: SQLite (embedded default) or PostgreSQL (several processes / machines). */
export interface Store extends AdminStore, DecisionStore {
  readonly dialect: 'sqlite' | 'postgres';
  migrate(): Promise<string[]>;
  close(): Promise<void>;
}
