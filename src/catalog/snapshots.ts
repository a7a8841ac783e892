import type { PolicyResolver } from '../core/policies.js';
import { buildSnapshot, type CatalogSnapshot, type CompiledOffer } from '../core/snapshot.js';
import type { CatalogSnapshotPort } from './port.js';

/** The catalog snapshot decisions read, kept within a staleness bound of the database's. */
export interface SnapshotSource {
  /** The current snapshot, at most `refreshMs` older than the database's catalog. */
  snapshot(): Promise<CatalogSnapshot>;
  /** Forgets what the last check vouched for (this process edited the catalog). */
  invalidate(): void;
  /** Called after each rebuild (caches keyed by the catalog reset themselves). */
  onReload(listener: (s: CatalogSnapshot) => void): void;
}

/**
 * Rebuilt when the catalog version changes. A snapshot is served only while the check that
 * produced it *started* less than `refreshMs` ago, so what a request reads is never older than
 * that bound; past it, requests wait for one shared check.
 */
export function snapshotSource(port: CatalogSnapshotPort, refreshMs: number, policies?: PolicyResolver): SnapshotSource {
  const compiledCache = new Map<string, CompiledOffer>();
  const listeners: Array<(s: CatalogSnapshot) => void> = [];
  let snap: CatalogSnapshot | null = null;
  let checkedAt = -Infinity;
  // Bumped by this process's own edits: a check begun before an edit cannot vouch for it.
  let epoch = 0;
  let loading: { epoch: number; promise: Promise<CatalogSnapshot> } | null = null;
  const reload = async (): Promise<CatalogSnapshot> => {
    const data = await port.loadCatalog();
    // Two overlapping checks (an edit began a second one) may finish out of order: keep the newer.
    if (snap && snap.version > data.version) return snap;
    snap = buildSnapshot(data, compiledCache, policies);
    // Keep compiled rules only for the versions still current.
    const current = new Set(data.offers.map((o) => `${o.id}@${o.version}`));
    for (const k of compiledCache.keys()) if (!current.has(k)) compiledCache.delete(k);
    for (const l of listeners) l(snap);
    return snap;
  };
  const check = (): Promise<CatalogSnapshot> => {
    const mine = { epoch, promise: null as unknown as Promise<CatalogSnapshot> };
    const started = performance.now();
    mine.promise = (async () => {
      try {
        const v = await port.catalogVersion();
        const s = snap && snap.version === v ? snap : await reload();
        if (mine.epoch === epoch) checkedAt = Math.max(checkedAt, started);
        return s;
      } finally {
        if (loading === mine) loading = null;
      }
    })();
    loading = mine;
    return mine.promise;
  };
  return {
    async snapshot() {
      if (snap && performance.now() - checkedAt < refreshMs) return snap;
      if (loading && loading.epoch === epoch) return loading.promise;
      return check();
    },
    invalidate() {
      epoch++;
      checkedAt = -Infinity;
    },
    onReload(listener) {
      listeners.push(listener);
    },
  };
}
