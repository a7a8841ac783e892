import { describe, expect, it } from 'vitest';
import { importCatalog } from '../src/catalog/import.js';
import { testServer } from './helpers/http.js';
import { BACKENDS, createTestEngine } from './helpers/backends.js';
import { checkGolden, GOLDEN_CASES, goldenCatalog } from './helpers/golden.js';

for (const backend of BACKENDS) {
  describe(`golden decisions via the library [${backend}]`, () => {
    for (const c of GOLDEN_CASES) {
      it(c.name, async () => {
        const t = await createTestEngine(backend, { ...(c.now ? { now: c.now } : {}) });
        try {
          await importCatalog(t.engine.catalog, goldenCatalog(c));
          for (const cu of c.customers ?? []) await t.engine.putCustomer(cu.id, { traits: cu.traits ?? {}, consent: cu.consent ?? {} });
          for (const b of c.before ?? []) await t.engine.decide(b);
          const d = await t.engine.decide(c.request);
          checkGolden(c, d);
          // The log holds the same decision, with its probability and versions.
          const logged = await t.engine.getDecision(d.decisionId);
          expect(logged.offers).toEqual(d.offers);
          expect(logged.candidates).toEqual(d.candidates);
        } finally {
          await t.close();
        }
      });
    }
  });

  describe(`golden decisions via HTTP [${backend}]`, () => {
    for (const c of GOLDEN_CASES) {
      it(c.name, async () => {
        const t = await createTestEngine(backend, { ...(c.now ? { now: c.now } : {}) });
        const app = await testServer(t.engine);
        try {
          const { key } = await t.engine.keys.create(['admin']);
          const auth = { authorization: `Bearer ${key}` };
          const imp = await app.inject({ method: 'POST', url: '/v1/catalog/import', headers: auth, payload: goldenCatalog(c) });
          expect(imp.statusCode, imp.body).toBe(200);
          for (const cu of c.customers ?? []) {
            const r = await app.inject({ method: 'PUT', url: `/v1/customers/${cu.id}`, headers: auth, payload: { traits: cu.traits ?? {}, consent: cu.consent ?? {} } });
            expect(r.statusCode, r.body).toBe(200);
          }
          for (const b of c.before ?? []) expect((await app.inject({ method: 'POST', url: '/v1/decide', headers: auth, payload: b as object })).statusCode).toBe(200);
          const r = await app.inject({ method: 'POST', url: '/v1/decide', headers: auth, payload: c.request });
          expect(r.statusCode, r.body).toBe(200);
          checkGolden(c, r.json());
        } finally {
          await app.close();
          await t.close();
        }
      });
    }
  });
}
