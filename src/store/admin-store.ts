import type { Kysely } from 'kysely';
import type { Campaign, Offer, Product, Status } from '../core/catalog.js';
import type { Consent } from '../core/request.js';
import type { AdminStore, ApiKeyRecord, CatalogData, CustomerRecord, StoredDecision, Versioned, VersionedKind } from './ports.js';
import type { DB } from './schema.js';
import { OfferpilotError } from '../core/errors.js';

/** Unique-key violation on SQLite or PostgreSQL. */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

const iso = (t: number) => new Date(Number(t)).toISOString();

type Row = { id: string; status: string; current_version: number; created_at: number; updated_at: number };

function toRecord<K extends VersionedKind>(row: Row, spec: string, version: number, versionAt: number): Versioned<K> {
  return {
    ...(JSON.parse(spec) as object),
    id: row.id,
    status: row.status as Status,
    version: Number(version),
    createdAt: iso(row.created_at),
    updatedAt: iso(Math.max(Number(row.updated_at), Number(versionAt))),
  } as Versioned<K>;
}

function specOf(record: Offer | Campaign): string {
  const { id: _i, status: _s, version: _v, createdAt: _c, updatedAt: _u, ...spec } = record;
  return JSON.stringify(spec);
}

function toProduct(r: DB['products']): Product {
  const p: Product = {
    sku: r.sku,
    price: Number(r.price),
    unitCost: Number(r.unit_cost),
    fulfilmentCost: Number(r.fulfilment_cost),
  };
  if (r.name !== null) p.name = r.name;
  if (r.category !== null) p.category = r.category;
  if (r.inventory_on_hand !== null) p.inventoryOnHand = Number(r.inventory_on_hand);
  if (r.daily_sales_rate !== null) p.dailySalesRate = Number(r.daily_sales_rate);
  return p;
}

function toKey(r: DB['api_keys']): ApiKeyRecord {
  return {
    id: r.id,
    name: r.name,
    hash: r.hash,
    scopes: r.scopes.split(',').filter(Boolean),
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

const tables = {
  offer: { head: 'offers', versions: 'offer_versions', fk: 'offer_id' },
  campaign: { head: 'campaigns', versions: 'campaign_versions', fk: 'campaign_id' },
} as const;

/** The catalog, customer, key and settings store, written once over Kysely for every dialect. */
export function createAdminStore(db: Kysely<DB>): AdminStore {
  // Kysely cannot type a table chosen at run time; the two versioned kinds share one shape.
  const anyDb = db as unknown as Kysely<any>;

  async function loadVersioned<K extends VersionedKind>(kind: K, where?: { id?: string; status?: Status }): Promise<Array<Versioned<K>>> {
    const t = tables[kind];
    let q = anyDb
      .selectFrom(`${t.head} as h`)
      .innerJoin(`${t.versions} as v`, (j) => j.onRef(`v.${t.fk}`, '=', 'h.id').onRef('v.version', '=', 'h.current_version'))
      .select(['h.id', 'h.status', 'h.current_version', 'h.created_at', 'h.updated_at', 'v.spec', 'v.created_at as version_at']);
    if (where?.id) q = q.where('h.id', '=', where.id);
    if (where?.status) q = q.where('h.status', '=', where.status);
    const rows = await q.orderBy('h.created_at').orderBy('h.id').execute();
    return rows.map((r: any) => toRecord<K>(r, r.spec, r.current_version, r.version_at));
  }

  return {
    async catalogVersion() {
      const r = await db.selectFrom('catalog_meta').select('version').where('id', '=', 1).executeTakeFirstOrThrow();
      return Number(r.version);
    },

    async loadCatalog(): Promise<CatalogData> {
      // Read the version first: a change racing this load makes the next check reload again.
      const version = await this.catalogVersion();
      const [offers, campaigns, products] = await Promise.all([
        loadVersioned('offer'),
        loadVersioned('campaign'),
        db.selectFrom('products').selectAll().execute(),
      ]);
      return { version, offers, campaigns, products: products.map(toProduct) };
    },

    async putVersion(kind, record, changedBy) {
      const t = tables[kind];
      const at = Date.parse(record.updatedAt);
      try {
        await anyDb.transaction().execute(async (tx) => {
          if (record.version === 1) {
            await tx
              .insertInto(t.head)
              .values({ id: record.id, status: record.status, current_version: 1, created_at: Date.parse(record.createdAt), updated_at: at, status_changed_by: changedBy ?? null })
              .execute();
          } else {
            // Optimistic: only the edit based on the current version wins, and status (a
            // concurrent pause or archive) is never written back from a stale read.
            const r = await tx
              .updateTable(t.head)
              .set({ current_version: record.version, updated_at: at })
              .where('id', '=', record.id)
              .where('current_version', '=', record.version - 1)
              .where('status', '<>', 'archived')
              .executeTakeFirst();
            if (Number(r.numUpdatedRows) === 0) throw new OfferpilotError('CONFLICT', `${kind} ${record.id} changed (or was archived) while this edit was made; reload and retry`);
          }
          await tx.insertInto(t.versions).values({ [t.fk]: record.id, version: record.version, spec: specOf(record), created_at: at, changed_by: changedBy ?? null }).execute();
          await tx.updateTable('catalog_meta').set((eb: any) => ({ version: eb('version', '+', 1) })).where('id', '=', 1).execute();
        });
      } catch (e) {
        if (isUniqueViolation(e)) throw new OfferpilotError('CONFLICT', `${kind} ${record.id} version ${record.version} already exists; reload and retry`, [{ path: 'id', message: 'taken' }]);
        throw e;
      }
    },

    async setStatus(kind, id, status, at, changedBy) {
      await anyDb.transaction().execute(async (tx) => {
        await tx.updateTable(tables[kind].head).set({ status, updated_at: at, status_changed_by: changedBy ?? null }).where('id', '=', id).execute();
        await tx.updateTable('catalog_meta').set((eb: any) => ({ version: eb('version', '+', 1) })).where('id', '=', 1).execute();
      });
    },

    async getVersioned(kind, id, version) {
      if (version === undefined) return (await loadVersioned(kind, { id }))[0] ?? null;
      const t = tables[kind];
      const r = await anyDb
        .selectFrom(`${t.head} as h`)
        .innerJoin(`${t.versions} as v`, `v.${t.fk}`, 'h.id')
        .select(['h.id', 'h.status', 'h.current_version', 'h.created_at', 'h.updated_at', 'v.spec', 'v.version', 'v.created_at as version_at'])
        .where('h.id', '=', id)
        .where('v.version', '=', version)
        .executeTakeFirst();
      return r ? toRecord<typeof kind>(r, r.spec, r.version, r.version_at) : null;
    },

    listVersioned: (kind, status) => loadVersioned(kind, status ? { status } : undefined),

    async listVersions(kind, id) {
      const t = tables[kind];
      const rows = await anyDb
        .selectFrom(`${t.head} as h`)
        .innerJoin(`${t.versions} as v`, `v.${t.fk}`, 'h.id')
        .select(['h.id', 'h.status', 'h.current_version', 'h.created_at', 'h.updated_at', 'v.spec', 'v.version', 'v.created_at as version_at'])
        .where('h.id', '=', id)
        .orderBy('v.version')
        .execute();
      return rows.map((r: any) => toRecord<typeof kind>(r, r.spec, r.version, r.version_at));
    },

    async changeActors(kind, id) {
      const t = tables[kind];
      const [head, versions] = await Promise.all([
        anyDb.selectFrom(t.head).select('status_changed_by').where('id', '=', id).executeTakeFirst(),
        anyDb.selectFrom(t.versions).select(['version', 'changed_by']).where(t.fk, '=', id).orderBy('version').execute(),
      ]);
      return {
        versions: versions.map((v: { version: number; changed_by: string | null }) => ({ version: Number(v.version), changedBy: v.changed_by })),
        statusChangedBy: (head?.status_changed_by as string | null | undefined) ?? null,
      };
    },

    async upsertProducts(products, at) {
      if (products.length === 0) return 0;
      await db.transaction().execute(async (tx) => {
        // Chunked so one statement stays under SQLite's and PostgreSQL's parameter limits.
        for (let i = 0; i < products.length; i += 500) {
          const rows = products.slice(i, i + 500).map((p) => ({
            sku: p.sku,
            name: p.name ?? null,
            category: p.category ?? null,
            price: p.price,
            unit_cost: p.unitCost,
            fulfilment_cost: p.fulfilmentCost,
            inventory_on_hand: p.inventoryOnHand ?? null,
            daily_sales_rate: p.dailySalesRate ?? null,
            updated_at: at,
          }));
          await tx
            .insertInto('products')
            .values(rows)
            .onConflict((oc) =>
              oc.column('sku').doUpdateSet((eb) => ({
                name: eb.ref('excluded.name'),
                category: eb.ref('excluded.category'),
                price: eb.ref('excluded.price'),
                unit_cost: eb.ref('excluded.unit_cost'),
                fulfilment_cost: eb.ref('excluded.fulfilment_cost'),
                inventory_on_hand: eb.ref('excluded.inventory_on_hand'),
                daily_sales_rate: eb.ref('excluded.daily_sales_rate'),
                updated_at: eb.ref('excluded.updated_at'),
              })),
            )
            .execute();
        }
        await tx.updateTable('catalog_meta').set((eb) => ({ version: eb('version', '+', 1) })).where('id', '=', 1).execute();
      });
      return products.length;
    },

    async getProduct(sku) {
      const r = await db.selectFrom('products').selectAll().where('sku', '=', sku).executeTakeFirst();
      return r ? toProduct(r) : null;
    },

    async listProducts({ after, limit }) {
      let q = db.selectFrom('products').selectAll().orderBy('sku').limit(limit);
      if (after) q = q.where('sku', '>', after);
      return (await q.execute()).map(toProduct);
    },

    async getCustomer(id) {
      const r = await db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? customerOf(r) : null;
    },

    async putCustomer(id, traits, consent, at) {
      await db
        .insertInto('customers')
        .values({ id, traits: JSON.stringify(traits), consent: JSON.stringify(consent), created_at: at, updated_at: at })
        .onConflict((oc) => oc.column('id').doUpdateSet({ traits: JSON.stringify(traits), consent: JSON.stringify(consent), updated_at: at }))
        .execute();
      const r = await db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      return customerOf(r);
    },

    async createKey(rec) {
      await db
        .insertInto('api_keys')
        .values({ id: rec.id, name: rec.name, hash: rec.hash, scopes: rec.scopes.join(','), created_at: rec.createdAt, revoked_at: rec.revokedAt })
        .execute();
    },

    async findKeyByHash(hash) {
      const r = await db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
      return r ? toKey(r) : null;
    },

    async listKeys() {
      return (await db.selectFrom('api_keys').selectAll().orderBy('created_at').execute()).map(toKey);
    },

    async revokeKey(id, at) {
      const r = await db.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },

    async getOrCreateSetting(key, make) {
      await db.insertInto('settings').values({ key, value: make() }).onConflict((oc) => oc.column('key').doNothing()).execute();
      const r = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirstOrThrow();
      return r.value;
    },

    async getSetting(key) {
      const r = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
      return r?.value ?? null;
    },

    async putSetting(key, value) {
      await db.insertInto('settings').values({ key, value }).onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
    },

    async getDecision(id) {
      const r = await db.selectFrom('decisions').select(['id', 'request_id', 'created_at', 'body']).where('id', '=', id).executeTakeFirst();
      return r ? storedDecision(r) : null;
    },

    async listDecisions({ subjectId, campaignId, limit }) {
      let q = db.selectFrom('decisions').select(['id', 'request_id', 'created_at', 'body']).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit);
      if (subjectId) q = q.where('subject_id', '=', subjectId);
      if (campaignId) q = q.where('campaign_id', '=', campaignId);
      return (await q.execute()).map(storedDecision);
    },
  };
}

function customerOf(r: DB['customers']): CustomerRecord {
  return {
    id: r.id,
    traits: JSON.parse(r.traits) as Record<string, unknown>,
    consent: JSON.parse(r.consent) as Consent,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** Maps a decisions row to the stored form. */
export function storedDecision(r: { id: string; request_id: string | null; created_at: number; body: string }): StoredDecision {
  return { id: r.id, requestId: r.request_id, createdAt: Number(r.created_at), body: r.body };
}
