/**
 * Ingestion over time on SQLite: events/s and write-ahead log size per round of 20,000 events,
 * to see whether throughput holds as the tables and the log grow.
 *   npm run bench:build && node .bench-build/bench/wal-growth.js [rounds]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importCatalog } from '../src/catalog/import.js';
import { createEngine, openStore } from '../src/index.js';
import { benchCatalog } from './fixtures.js';
import { eventBatch } from './outcomes.js';
import { fmt } from './stats.js';

const rounds = Number(process.argv[2] ?? 8);
const dir = mkdtempSync(join(tmpdir(), 'offerpilot-wal-'));
const path = join(dir, 'bench.db');
const store = openStore(path);
await store.migrate();
const engine = await createEngine({ store, config: { logLevel: 'silent', expirySweepMs: 0 } });
await importCatalog(engine.catalog, benchCatalog(50));
const t0 = Date.now() - 3_600_000;
const batches = Array.from({ length: rounds * 40 }, (_, k) => eventBatch(k * 500, 500, t0, new Map()));
const mb = (f: string) => Math.round((statSync(f, { throwIfNoEntry: false })?.size ?? 0) / 1e6);
let next = 0;
for (let r = 0; r < rounds; r++) {
  const t = performance.now();
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let k = 0; k < 10; k++) await engine.events.ingest({ events: batches[next++]! });
  }));
  console.log(`round ${r}: ${fmt(20_000 / ((performance.now() - t) / 1000))} events/s, log ${mb(`${path}-wal`)} MB, database ${mb(path)} MB`);
}
await engine.close();
rmSync(dir, { recursive: true, force: true });
