import { describe, expect, it, vi } from 'vitest';
import { STOP_LOSS_ACTOR } from '../src/auth/principal.js';
import { importCatalog } from '../src/catalog/import.js';
import { MeasureService } from '../src/measure/service.js';
import { BACKENDS, createTestEngine } from './helpers/backends.js';
import { createApiHarness, json } from './helpers/http.js';

const offer = { name: 'Ten percent', type: 'percent_off', value: 10, placements: ['cart'] };
type Versions = { versions: Array<{ version: number; changedBy: string | null }>; statusChangedBy: string | null };

for (const backend of BACKENDS) {
  describe(`catalog changes carry their actor [${backend}]`, () => {
    it('a change made with a key is attributed to the key’s id; a library call without one to system:library', async () => {
      const h = await createApiHarness(backend);
      try {
        const alice = await h.t.engine.keys.create(['admin'], 'alice');
        const bob = await h.t.engine.keys.create(['admin'], 'bob');
        const created = await h.req('POST', '/v1/offers', { ...offer, id: 'ofr_who' }, alice.key);
        expect(created.statusCode, created.body).toBe(201);
        expect((await h.req('PUT', '/v1/offers/ofr_who', { ...offer, value: 12 }, bob.key)).statusCode).toBe(200);
        expect((await h.req('POST', '/v1/offers/ofr_who/status', { status: 'live' }, alice.key)).statusCode).toBe(200);
        await h.t.engine.catalog.updateOffer('ofr_who', { ...offer, value: 15 });

        const v = json<Versions>(await h.req('GET', '/v1/offers/ofr_who/versions'));
        expect(v.versions.map((x) => [x.version, x.changedBy])).toEqual([
          [1, alice.id],
          [2, bob.id],
          [3, 'system:library'],
        ]);
        expect(v.statusChangedBy).toBe(alice.id);

        // Campaigns and the catalog import record theirs the same way.
        const imported = await h.req('POST', '/v1/catalog/import', { campaigns: [{ id: 'cmp_who', status: 'live', name: 'W', placements: ['cart'], offers: ['ofr_who'] }] }, bob.key);
        expect(imported.statusCode, imported.body).toBe(200);
        const c = json<Versions>(await h.req('GET', '/v1/campaigns/cmp_who/versions'));
        expect(c.versions).toEqual([expect.objectContaining({ version: 1, changedBy: bob.id })]);
        expect(c.statusChangedBy).toBe(bob.id);
        await importCatalog(h.t.engine.catalog, { campaigns: [{ id: 'cmp_who', name: 'W2', placements: ['cart'], offers: ['ofr_who'] }] }, { kind: 'system', name: 'cli' });
        expect(json<Versions>(await h.req('GET', '/v1/campaigns/cmp_who/versions')).versions.map((x) => x.changedBy)).toEqual([bob.id, 'system:cli']);
      } finally {
        await h.close();
      }
    });
  });
}

describe('system actors', () => {
  it('the stop-loss timer acts as system:stop-loss', async () => {
    const run = vi.spyOn(MeasureService.prototype, 'stopLoss').mockResolvedValue([]);
    const t = await createTestEngine('sqlite', { config: { stopLossCheckMs: 10 } });
    try {
      await vi.waitFor(() => expect(run).toHaveBeenCalled(), { timeout: 2000 });
      expect(run.mock.calls.every(([actor]) => actor === STOP_LOSS_ACTOR)).toBe(true);
    } finally {
      run.mockRestore();
      await t.close();
    }
  });
});
