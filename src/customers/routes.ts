import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { OfferpilotError } from '../core/errors.js';
import { ConsentSchema } from '../core/request.js';
import { errorReplies, IdParams } from '../http/schemas.js';
import { iso, principalOf } from '../http/route-kit.js';
import type { CustomerRecord } from '../store/ports.js';
import { CustomerFeaturesSchema } from './features.js';
import type { CustomerService } from './service.js';

export const CustomerSchema = z
  .object({ id: z.string(), traits: z.record(z.string(), z.unknown()), consent: ConsentSchema, createdAt: z.string(), updatedAt: z.string() })
  .meta({ id: 'Customer' });
export type CustomerView = z.infer<typeof CustomerSchema>;
export const ErasureSchema = z.object({ customerId: z.string(), erased: z.literal(true) }).meta({ id: 'Erasure' });

/** A stored customer as replies show it: timestamps as ISO 8601. */
export const customerView = (c: CustomerRecord): CustomerView => ({ ...c, createdAt: iso(c.createdAt), updatedAt: iso(c.updatedAt) });

/** Customer profiles, features and erasure. */
export const customerRoutes: FastifyPluginAsyncZod<{ customers: CustomerService }> = async (app, { customers }) => {
  app.put(
    '/v1/customers/:id',
    {
      config: { scope: 'decide' },
      schema: {
        tags: ['customers'],
        summary: 'Store a customer’s traits and consent (replaces both)',
        params: IdParams,
        body: z.object({ traits: z.record(z.string(), z.unknown()).optional(), consent: z.object({ personalization: z.boolean().optional(), email: z.boolean().optional(), sms: z.boolean().optional(), push: z.boolean().optional() }).strict().optional() }).strict(),
        response: { 200: CustomerSchema, ...errorReplies },
      },
    },
    async (req) => customerView(await customers.put(req.params.id, req.body, principalOf(req))),
  );
  app.get('/v1/customers/:id', { config: { scope: 'read' }, schema: { tags: ['customers'], params: IdParams, response: { 200: CustomerSchema, ...errorReplies } } }, async (req) =>
    customerView(await customers.get(req.params.id)),
  );

  app.get(
    '/v1/customers/:id/features',
    {
      config: { scope: 'read' },
      schema: { tags: ['customers'], summary: 'Features computed from events (RFM, cohort, coupon affinity…); rules read them as customer.features', params: IdParams, response: { 200: CustomerFeaturesSchema, ...errorReplies } },
    },
    async (req) => customers.features(req.params.id),
  );
  app.delete(
    '/v1/customers/:id',
    { config: { scope: 'admin' }, schema: { tags: ['customers'], summary: 'Erase a customer: profile, features and personal data; aggregate outcomes stay, anonymised', params: IdParams, response: { 200: ErasureSchema, ...errorReplies } } },
    async (req) => {
      const r = await customers.erase(req.params.id, principalOf(req));
      if (!r.erased) throw new OfferpilotError('CUSTOMER_NOT_FOUND', `Nothing stored for customer ${req.params.id}`);
      return { customerId: req.params.id, erased: true as const };
    },
  );
};
