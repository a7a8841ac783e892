import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';

// Processes that start together on a new SQLite file (two `offerpilot serve`, or serve and a
// `keys create`) each run the migrations; once, both applied the first ("table settings already exists").
describe('SQLite migrations from several connections at once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'op-migrate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('apply once: one run applies every migration, the others find nothing pending', async () => {
    for (let round = 0; round < 3; round++) {
      const path = join(dir, `m${round}.db`);
      const stores = [0, 1, 2, 3].map(() => openStore(path, { writerThread: false }));
      try {
        const applied = await Promise.all(stores.map((s) => s.migrate()));
        const counts = applied.map((a) => a.length).sort((a, b) => b - a);
        expect(counts[0]).toBeGreaterThan(0);
        expect(counts.slice(1)).toEqual([0, 0, 0]);
        expect(await stores[3]!.catalogVersion()).toBe(0);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    }
  });
});
