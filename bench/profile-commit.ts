// Profiling aid: engine.decide (decide + commit on SQLite) in a loop.
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
const reqs = benchRequests(50_000);
const t = performance.now();
for (let i = 0; i < 15_000; i++) await engine.decide(reqs[i]);
console.log('decide+commit/s', 15_000 / ((performance.now() - t) / 1000));
await engine.close();
