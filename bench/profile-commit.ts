// Profiling aid: engine.decide (decide + commit on SQLite), sequential and with requests in flight.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, openStore } from '../src/index.js';
import { benchCatalog, benchRequests } from './fixtures.js';
const store = openStore(join(mkdtempSync(join(tmpdir(), 'op-prof-')), 'p.db'));
await store.migrate();
const engine = await createEngine({ store, config: { logLevel: 'silent' } });
await importCatalog(engine.catalog, benchCatalog(50));
const reqs = benchRequests(100_000);
let t = performance.now();
for (let i = 0; i < 5_000; i++) await engine.decide(reqs[i]);
console.log('sequential decide+commit/s', 5_000 / ((performance.now() - t) / 1000));
for (const inflight of [16, 64]) {
  t = performance.now();
  let next = 5_000 + inflight * 1000;
  const start = next;
  const N = 20_000;
  await Promise.all(Array.from({ length: inflight }, async () => { while (next < start + N) await engine.decide(reqs[next++ % reqs.length]); }));
  console.log(`${inflight} in flight decide+commit/s`, N / ((performance.now() - t) / 1000));
}
await engine.close();
