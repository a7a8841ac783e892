// Profiling aid: the pure decide() in a loop, inputs prepared outside the loop
// (node --cpu-prof .bench-build/bench/profile-pure.js).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importCatalog } from '../src/catalog/import.js';
import { decide, type SubjectState } from '../src/core/decide.js';
import { DecideRequestSchema } from '../src/core/request.js';
import { createEngine, openStore, seededRandom } from '../src/index.js';
import { benchCatalog, benchRequests } from './fixtures.js';
const store = openStore(join(mkdtempSync(join(tmpdir(), 'op-prof-')), 'p.db'));
await store.migrate();
const engine = await createEngine({ store, config: { logLevel: 'silent' } });
await importCatalog(engine.catalog, benchCatalog(50));
const snapshot = await engine.snapshot();
const reqs = benchRequests(5000).map((r) => DecideRequestSchema.parse(r));
const subjects: SubjectState[] = reqs.map((r) => ({ subjectId: `c:${r.customerId}`, customerId: r.customerId!, anonymousId: null, traits: r.traits ?? {}, consent: r.consent ?? {}, features: {}, issuances: [] }));
const defaults = { marginFloorPct: 0, shippingCost: 500, pointValue: 1, pointsPerMajorUnit: 1, merchantFeeBpsPerMonth: 50 };
const random = seededRandom(1);
const counters = { get: () => 0 };
const N = 300_000;
const t = performance.now();
for (let i = 0; i < N; i++) {
  const k = i % reqs.length;
  decide({ request: reqs[k]!, snapshot, subject: subjects[k]!, counters, now: 1795435200000, random, defaults });
}
console.log('pure decide/s', N / ((performance.now() - t) / 1000));
await engine.close();
