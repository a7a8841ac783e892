import type { Campaign, Offer, Product, Status } from '../core/catalog.js';
import type { CatalogData } from '../core/snapshot.js';

export type VersionedKind = 'offer' | 'campaign';
export type Versioned<K extends VersionedKind> = K extends 'offer' ? Offer : Campaign;

/** What the catalog snapshot needs from the store: the version to poll and the data to build from. */
export interface CatalogSnapshotPort {
  catalogVersion(): Promise<number>;
  loadCatalog(): Promise<CatalogData>;
}

/** Reads of offer and campaign versions (immutable once written). */
export interface VersionReads {
  getVersioned<K extends VersionedKind>(kind: K, id: string, version?: number): Promise<Versioned<K> | null>;
}

/** What catalog editing needs from the store. */
export interface CatalogPort extends VersionReads {
  /** Writes a new immutable version (version 1 creates the record) and bumps the catalog version; `changedBy` is the actor id recorded beside it. */
  putVersion<K extends VersionedKind>(kind: K, record: Versioned<K>, changedBy?: string): Promise<void>;
  setStatus(kind: VersionedKind, id: string, status: Status, at: number, changedBy?: string): Promise<void>;
  /** Who made each version of a record, and its last status change (null: before actors were recorded). */
  changeActors(kind: VersionedKind, id: string): Promise<{ versions: Array<{ version: number; changedBy: string | null }>; statusChangedBy: string | null }>;
  listVersioned<K extends VersionedKind>(kind: K, status?: Status): Promise<Array<Versioned<K>>>;
  listVersions<K extends VersionedKind>(kind: K, id: string): Promise<Array<Versioned<K>>>;
  upsertProducts(products: Product[], at: number): Promise<number>;
  getProduct(sku: string): Promise<Product | null>;
  listProducts(opts: { after?: string; limit: number }): Promise<Product[]>;
}
