import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { BACKENDS } from './helpers/backends.js';
import { createApiHarness, DEMO_CATALOG, json, type ApiHarness } from './helpers/http.js';

// A preview needs only the read scope; the coupon codes and tokens of a customer's wallet are
// bearer credentials that only the decide scope may see.
for (const backend of BACKENDS) {
  describe(`preview of a customer holding offers [${backend}]`, () => {
    let h: ApiHarness;
    beforeAll(async () => {
      h = await createApiHarness(backend);
      await importCatalog(h.t.engine.catalog, DEMO_CATALOG);
    });
    afterAll(async () => h?.close());

    it('shows held offers as held, without their coupon code or token, to a read key', async () => {
      const cart = { lines: [{ sku: 'HOOD-001', quantity: 1, unitPrice: 6000 }, { sku: 'JEANS-001', quantity: 1, unitPrice: 8000 }] };
      const body = { customerId: 'cust_held', placement: 'cart', channel: 'web', consent: { personalization: true }, traits: { orderCount: 0 }, cart };
      const issued = json(await h.req('POST', '/v1/decide', body));
      const codes = (issued.offers as Array<{ issuanceId: string; code: string | null; token: string | null }>).flatMap((o) => [o.code, o.token, o.issuanceId]).filter((x): x is string => !!x);
      expect(codes.length).toBeGreaterThan(0);
      const res = await h.req('POST', '/v1/decide/preview', body, await h.key(['read']));
      expect(res.statusCode).toBe(200);
      const preview = json(res);
      expect(preview.chosen.length).toBeGreaterThan(0);
      for (const c of preview.chosen) expect(c).toMatchObject({ fromWallet: true });
      for (const secret of codes.filter((c) => !c.startsWith('iss_'))) expect(res.body).not.toContain(secret);
      expect(res.body).not.toContain('"held"');
    });
  });
}
