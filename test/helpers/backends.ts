import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createEngine, fixedClock, openStore, seededRandom, sequentialIds, type Engine, type Store } from '../../src/index.js';
import type { Config } from '../../src/config/index.js';

export type Backend = 'sqlite' | 'postgres';

/** Admin connection used to create and drop throwaway databases. */
export const PG_ADMIN_URL = process.env.OFFERPILOT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const requirePg = process.env.CI === 'true' || process.env.OFFERPILOT_REQUIRE_PG === '1';

async function probePg(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch (e) {
    if (requirePg) throw new Error(`PostgreSQL is required (CI or OFFERPILOT_REQUIRE_PG=1) but ${PG_ADMIN_URL} is unreachable: ${(e as Error).message}`);
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Whether the PostgreSQL suite runs: on a laptop without a server it is skipped, in CI never. */
export const pgAvailable = await probePg();

const wanted = (process.env.OFFERPILOT_TEST_BACKENDS ?? 'sqlite,postgres').split(',');
/** Every backend the suite loops over. */
export const BACKENDS: Backend[] = (['sqlite', 'postgres'] as const).filter((b) => wanted.includes(b) && (b === 'sqlite' || pgAvailable));

export interface TestDb {
  url: string;
  drop(): Promise<void>;
}

/** A fresh database: a temp SQLite file or a throwaway PostgreSQL database. */
export async function createTestDb(backend: Backend): Promise<TestDb> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'offerpilot-test-'));
    return { url: join(dir, 'test.db'), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `offerpilot_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface TestEngine {
  engine: Engine;
  store: Store;
  db: TestDb;
  clock: ReturnType<typeof fixedClock>;
  close(): Promise<void>;
}

/** An engine on a fresh database with a fixed clock, seeded random source and sequential ids. */
export async function createTestEngine(
  backend: Backend,
  opts: { now?: string | number; seed?: number; config?: Partial<Config> } = {},
): Promise<TestEngine> {
  const db = await createTestDb(backend);
  const store = openStore(db.url);
  await store.migrate();
  const clock = fixedClock(opts.now ?? '2026-11-23T12:00:00Z');
  const engine = await createEngine({
    store,
    clock,
    random: seededRandom(opts.seed ?? 1),
    ids: sequentialIds(),
    config: { logLevel: 'silent', catalogRefreshMs: 0, counterRefreshMs: 0, learnEveryMs: 0, tokenKeys: 'test:test-secret', ...opts.config },
  });
  return {
    engine,
    store,
    db,
    clock,
    close: async () => {
      await engine.close();
      await db.drop();
    },
  };
}
