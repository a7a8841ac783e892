import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Actor } from '../auth/principal.js';
import { CampaignCreateSchema, CampaignSpecSchema, OfferCreateSchema, OfferSpecSchema, ProductSchema, StatusSchema, type Campaign, type Offer, type ProductView, type Status } from '../core/catalog.js';
import { compileRule } from '../core/rules.js';
import { principalOf } from '../http/route-kit.js';
import { errorReplies, IdParams, Passthrough, StatusBody, StatusQuery, VersionQuery } from '../http/schemas.js';
import type { Assert, Same } from '../http/type-check.js';
import { CatalogImportSchema, ImportResultSchema, importCatalog } from './import.js';
import type { CatalogService } from './service.js';

const Record = { id: z.string(), status: StatusSchema, version: z.number().int(), createdAt: z.string(), updatedAt: z.string() };
/** An offer as stored and returned: its current (or asked-for) immutable version. */
export const OfferSchema = OfferSpecSchema.safeExtend(Record).meta({ id: 'Offer' });
export const CampaignSchema = CampaignSpecSchema.safeExtend(Record).meta({ id: 'Campaign' });
export const ProductViewSchema = ProductSchema.safeExtend({ unitMargin: z.number().int(), marginPct: z.number().nullable(), daysOfCover: z.number().nullable() }).meta({ id: 'ProductView' });
export type _OfferAgrees = Assert<Same<z.infer<typeof OfferSchema>, Offer>>;
export type _CampaignAgrees = Assert<Same<z.infer<typeof CampaignSchema>, Campaign>>;
export type _ProductViewAgrees = Assert<Same<z.infer<typeof ProductViewSchema>, ProductView>>;

const changedBy = z.string().nullable().describe('Who made the change: an API key id (key_…) or system:<name>; null before actors were recorded');
const statusChangedBy = changedBy.describe('Who made the last status change');
const OfferVersionsSchema = z.object({ versions: z.array(OfferSchema.safeExtend({ changedBy })), statusChangedBy }).meta({ id: 'OfferVersions' });
const CampaignVersionsSchema = z.object({ versions: z.array(CampaignSchema.safeExtend({ changedBy })), statusChangedBy }).meta({ id: 'CampaignVersions' });

const RuleCheckSchema = z.object({ valid: z.literal(true), personalized: z.boolean().describe('The expression reads profile data (needs consent)') }).meta({ id: 'RuleCheck' });

/**
 * Bodies checked first as a plain JSON object (as they always were: a non-object body is refused
 * here, named "(body)"), then by the catalog service, which also compiles rules, so one set of
 * paths names every error. The declared schema is the real one, for OpenAPI.
 */
const objectBodyFirst = {
  validatorCompiler: (c: { httpPart?: string }) => validatorCompiler((c.httpPart === 'body' ? { ...c, schema: Passthrough } : c) as never),
};

/** What the shared offer and campaign routes call. */
interface VersionedService {
  create(body: unknown, actor: Actor): Promise<Offer | Campaign>;
  update(id: string, body: unknown, actor: Actor): Promise<Offer | Campaign>;
  get(id: string, version?: number): Promise<Offer | Campaign>;
  list(status?: Status): Promise<Array<Offer | Campaign>>;
  versions(id: string): Promise<Array<Offer | Campaign>>;
  transition(id: string, status: Status, actor: Actor): Promise<Offer | Campaign>;
}

/** Offers, campaigns, products, rule checks and the catalog import. */
export const catalogRoutes: FastifyPluginAsyncZod<{ catalog: CatalogService }> = async (app, { catalog }) => {
  // Offers and campaigns share one shape of routes.
  const versioned = [
    {
      path: 'offers',
      kind: 'offer',
      create: OfferCreateSchema.meta({ id: 'OfferCreate' }),
      spec: OfferSpecSchema.meta({ id: 'OfferSpec' }),
      item: OfferSchema,
      list: z.object({ offers: z.array(OfferSchema) }).meta({ id: 'OfferList' }),
      versions: OfferVersionsSchema,
      svc: {
        create: catalog.createOffer.bind(catalog),
        update: catalog.updateOffer.bind(catalog),
        get: catalog.getOffer.bind(catalog),
        list: catalog.listOffers.bind(catalog),
        versions: catalog.offerVersions.bind(catalog),
        transition: catalog.transitionOffer.bind(catalog),
      },
    },
    {
      path: 'campaigns',
      kind: 'campaign',
      create: CampaignCreateSchema.meta({ id: 'CampaignCreate' }),
      spec: CampaignSpecSchema.meta({ id: 'CampaignSpec' }),
      item: CampaignSchema,
      list: z.object({ campaigns: z.array(CampaignSchema) }).meta({ id: 'CampaignList' }),
      versions: CampaignVersionsSchema,
      svc: {
        create: catalog.createCampaign.bind(catalog),
        update: catalog.updateCampaign.bind(catalog),
        get: catalog.getCampaign.bind(catalog),
        list: catalog.listCampaigns.bind(catalog),
        versions: catalog.campaignVersions.bind(catalog),
        transition: catalog.transitionCampaign.bind(catalog),
      },
    },
  ] as const;
  for (const v of versioned) {
    const tags = [v.path];
    const svc: VersionedService = v.svc;
    app.post(
      `/v1/${v.path}`,
      { ...objectBodyFirst, config: { scope: 'admin' }, schema: { tags, summary: `Create (version 1, draft unless status: live)`, body: v.create, response: { 201: v.item, ...errorReplies } } },
      async (req, reply) => {
        reply.code(201);
        return svc.create(req.body, principalOf(req));
      },
    );
    // The loop's union of offer and campaign types is more than TypeScript can narrow per route.
    app.get(`/v1/${v.path}`, { config: { scope: 'read' }, schema: { tags, querystring: StatusQuery, response: { 200: v.list, ...errorReplies } } }, async (req) => ({
      [v.path]: await svc.list(req.query.status),
    }) as never);
    app.get(`/v1/${v.path}/:id`, { config: { scope: 'read' }, schema: { tags, params: IdParams, querystring: VersionQuery, response: { 200: v.item, ...errorReplies } } }, async (req) =>
      svc.get(req.params.id, req.query.version),
    );
    app.put(
      `/v1/${v.path}/:id`,
      { ...objectBodyFirst, config: { scope: 'admin' }, schema: { tags, summary: 'Replace the definition: creates a new immutable version', params: IdParams, body: v.spec, response: { 200: v.item, ...errorReplies } } },
      async (req) => svc.update(req.params.id, req.body, principalOf(req)),
    );
    app.get(`/v1/${v.path}/:id/versions`, { config: { scope: 'read' }, schema: { tags, summary: 'Every version, oldest first, with who made it', params: IdParams, response: { 200: v.versions, ...errorReplies } } }, async (req) => {
      const versions = await svc.versions(req.params.id);
      const actors = await catalog.changeActors(v.kind, req.params.id);
      const by = new Map(actors.versions.map((a) => [a.version, a.changedBy]));
      return { versions: versions.map((x) => ({ ...x, changedBy: by.get(x.version) ?? null })), statusChangedBy: actors.statusChangedBy } as never;
    });
    app.post(
      `/v1/${v.path}/:id/status`,
      { config: { scope: 'admin' }, schema: { tags, summary: 'Lifecycle: draft → live ⇄ paused → archived', params: IdParams, body: StatusBody, response: { 200: v.item, ...errorReplies } } },
      async (req) => svc.transition(req.params.id, req.body.status, principalOf(req)),
    );
  }

  app.post(
    '/v1/rules/check',
    {
      config: { scope: 'read' },
      schema: { tags: ['offers'], summary: 'Check an eligibility expression without saving it', body: z.object({ expression: z.string().min(1).max(4000) }).strict(), response: { 200: RuleCheckSchema, ...errorReplies } },
    },
    async (req) => {
      const r = compileRule(req.body.expression, 'expression');
      return { valid: true as const, personalized: r.personalized };
    },
  );

  app.post(
    '/v1/catalog/import',
    { ...objectBodyFirst, config: { scope: 'admin' }, schema: { tags: ['catalog'], summary: 'Import products, offers and campaigns idempotently', body: CatalogImportSchema, response: { 200: ImportResultSchema, ...errorReplies } } },
    async (req) => importCatalog(catalog, req.body, principalOf(req)),
  );

  app.put(
    '/v1/products',
    {
      config: { scope: 'admin' },
      schema: { tags: ['products'], summary: 'Bulk upsert of up to 10,000 products', body: z.array(ProductSchema).min(1).max(10_000), response: { 200: z.object({ upserted: z.number().int() }).meta({ id: 'ProductUpsert' }), ...errorReplies } },
    },
    async (req) => catalog.upsertProducts(req.body, principalOf(req)),
  );
  app.get(
    '/v1/products',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['products'],
        querystring: z.object({ after: z.string().optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict(),
        response: { 200: z.object({ products: z.array(ProductViewSchema) }).meta({ id: 'ProductList' }), ...errorReplies },
      },
    },
    async (req) => ({ products: await catalog.listProducts(req.query.after, req.query.limit) }),
  );
  app.get('/v1/products/:sku', { config: { scope: 'read' }, schema: { tags: ['products'], params: z.object({ sku: z.string() }), response: { 200: ProductViewSchema, ...errorReplies } } }, async (req) =>
    catalog.getProduct(req.params.sku),
  );
};
