import { z } from 'zod';
import { isOfferpilotError, OfferpilotError } from '../core/errors.js';
import { parseInput, validationError, type IssueLike } from '../core/validate.js';
import { CampaignCreateSchema, CampaignSpecSchema, OfferCreateSchema, OfferSpecSchema, ProductSchema } from '../core/catalog.js';
import { SYSTEM_ACTOR, type Actor } from '../auth/principal.js';
import type { CatalogService } from './service.js';

function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );
}

/** A catalog file: products, offers and campaigns (the format of `offerpilot offers import`). */
export const CatalogFileSchema = z
  .object({
    products: z.array(z.unknown()).default([]),
    offers: z.array(z.unknown()).default([]),
    campaigns: z.array(z.unknown()).default([]),
  })
  .strict();

// In a file every offer and campaign needs its id: it is what makes a second run idempotent.
const FileOfferSchema = OfferCreateSchema.safeExtend({ id: OfferCreateSchema.shape.id.unwrap() });
const FileCampaignSchema = CampaignCreateSchema.safeExtend({ id: CampaignCreateSchema.shape.id.unwrap() });

/** A catalog file as OpenAPI documents it: every item with its full schema (validated by importCatalog, which names the item). */
export const CatalogImportSchema = z
  .object({ products: z.array(ProductSchema).optional(), offers: z.array(FileOfferSchema).optional(), campaigns: z.array(FileCampaignSchema).optional() })
  .strict()
  .meta({ id: 'CatalogImport' });

const Counts = z.object({ created: z.number().int(), updated: z.number().int(), unchanged: z.number().int() });
export const ImportResultSchema = z.object({ products: z.number().int(), offers: Counts, campaigns: Counts }).meta({ id: 'ImportResult' });
export type ImportResult = z.infer<typeof ImportResultSchema>;

/**
 * Imports a catalog file idempotently: products are upserted; offers and campaigns are
 * created, or get a new version only when their definition changed. Statuses in the file
 * ('draft' | 'live') are applied. Errors name the item, e.g. `offers.3.valueLadder.1`.
 */
export async function importCatalog(catalog: CatalogService, input: unknown, actor: Actor = SYSTEM_ACTOR): Promise<ImportResult> {
  const file = parseInput(CatalogFileSchema, input);
  const result: ImportResult = { products: 0, offers: { created: 0, updated: 0, unchanged: 0 }, campaigns: { created: 0, updated: 0, unchanged: 0 } };
  const prefixed = async <T>(prefix: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (isOfferpilotError(e)) {
        throw new OfferpilotError(e.code, `${prefix}: ${e.message}`, e.details.map((d) => ({ ...d, path: `${prefix}.${d.path}` })));
      }
      throw e;
    }
  };
  // Every item is checked against its full schema before anything is written, so a file with an
  // unknown or misspelled key is refused whole on its first run, the key named (`offers.0.budgets`).
  // The file's own strings and checks are those of create, so the first run cannot accept what a
  // later run (comparing against the stored spec) would refuse.
  const issues: IssueLike[] = [];
  const check = (schema: z.ZodType, items: unknown[], name: string) =>
    items.forEach((item, i) => {
      const r = schema.safeParse(item);
      if (!r.success) issues.push(...r.error.issues.map((x) => ({ ...x, path: [name, i, ...x.path] })));
    });
  check(ProductSchema, file.products, 'products');
  check(FileOfferSchema, file.offers, 'offers');
  check(FileCampaignSchema, file.campaigns, 'campaigns');
  if (issues.length > 0) throw validationError(issues);
  if (file.products.length) result.products = (await prefixed('products', () => catalog.upsertProducts(file.products, actor))).upserted;
  const kinds = [
    { name: 'offers', items: file.offers, schema: OfferSpecSchema, get: (id: string) => catalog.getOffer(id), create: (b: unknown) => catalog.createOffer(b, actor), update: (id: string, b: unknown) => catalog.updateOffer(id, b, actor), live: (id: string) => catalog.transitionOffer(id, 'live', actor) },
    { name: 'campaigns', items: file.campaigns, schema: CampaignSpecSchema, get: (id: string) => catalog.getCampaign(id), create: (b: unknown) => catalog.createCampaign(b, actor), update: (id: string, b: unknown) => catalog.updateCampaign(id, b, actor), live: (id: string) => catalog.transitionCampaign(id, 'live', actor) },
  ] as const;
  for (const k of kinds) {
    for (const [i, raw] of k.items.entries()) {
      await prefixed(`${k.name}.${i}`, async () => {
        const { id, status, ...spec } = raw as { id: string; status?: 'draft' | 'live' };
        const existing = await k.get(id).catch((e: unknown) => {
          if (isOfferpilotError(e) && e.status === 404) return null;
          throw e;
        });
        if (!existing) {
          await k.create(raw);
          result[k.name].created++;
          return;
        }
        const { id: _i, status: _s, version: _v, createdAt: _c, updatedAt: _u, ...current } = existing as unknown as Record<string, unknown>;
        const next = parseInput(k.schema, spec) as Record<string, unknown>;
        // An edit keeps the campaign's holdout salt unless the file sets one (see CatalogService).
        if (k.name === 'campaigns' && next.salt === undefined && current.salt !== undefined) next.salt = current.salt;
        if (stableJson(next) === stableJson(current)) result[k.name].unchanged++;
        else {
          await k.update(id, spec);
          result[k.name].updated++;
        }
        if (status === 'live' && existing.status !== 'live') await k.live(id);
      });
    }
  }
  return result;
}
