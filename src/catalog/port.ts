import type { Store } from '../store/ports.js';

/** What the catalog snapshot needs from the store: the version to poll and the data to build from. */
export type CatalogSnapshotPort = Pick<Store, 'catalogVersion' | 'loadCatalog'>;

/** What catalog editing needs from the store. */
export type CatalogPort = Pick<Store, 'putVersion' | 'setStatus' | 'getVersioned' | 'listVersioned' | 'listVersions' | 'upsertProducts' | 'getProduct' | 'listProducts'>;
