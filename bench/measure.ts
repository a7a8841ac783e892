/**
 * Incrementality report over 1,000,000 logged sessions (decisions) of one campaign: 200,000
 * customers, a 10% holdout, 5% of sessions with an order, half of treated orders redeeming an
 * offer. The rows are written straight into the tables (decide would take minutes to log a
 * million sessions); the report then runs exactly as the API runs it. Median of 3; on
 * PostgreSQL again after a VACUUM (the state autovacuum keeps the tables in).
 *   npm run bench:build && node .bench-build/bench/measure.js [sqlite|postgres]
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { importCatalog } from '../src/catalog/import.js';
import { inHoldout } from '../src/decide/holdout.js';
import { createEngine, openStore, seededRandom } from '../src/index.js';
import { pgReachable, tempDb, type Backend } from './outcomes.js';
import { fmt, measure, median, referenceWorkload } from './stats.js';

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 1_000_000);
const CUSTOMERS = SESSIONS / 5;
const START = Date.parse('2026-10-01T00:00:00Z');
const OFFERS = ['ofr_m1', 'ofr_m2', 'ofr_m3'];
const PLACEMENTS = ['cart', 'home_hero', 'product_page'];

interface Rows {
  decisions: unknown[][];
  orders: unknown[][];
  redemptions: unknown[][];
}

export function generate(): Rows {
  const r = seededRandom(11);
  const out: Rows = { decisions: [], orders: [], redemptions: [] };
  for (let i = 0; i < SESSIONS; i++) {
    const c = `c${Math.floor(r() * CUSTOMERS)}`;
    const subject = `c:${c}`;
    const holdout = inHoldout('cmp_m', c, 10);
    const offer = OFFERS[i % 3]!;
    const id = `dec_${String(i).padStart(8, '0')}`;
    const at = START + Math.floor((i / SESSIONS) * 28 * 86_400_000);
    const placement = PLACEMENTS[i % 3]!;
    out.decisions.push([id, at, 'cmp_m', 1, subject, c, placement, i % 4 === 0 ? 'app' : 'web', holdout ? 1 : 0, 1, 1, 'static:expected_value', 1, '{}', `${offer}@10`]);
    if (r() < (holdout ? 0.045 : 0.05)) {
      const subtotal = 3000 + Math.floor(r() * 9000);
      const redeemed = !holdout && r() < 0.5;
      const discount = redeemed ? Math.round(subtotal * 0.1) : 0;
      const cogs = Math.round(subtotal * 0.45);
      out.orders.push([`o${i}`, `e${i}`, subject, c, at + 60_000, subtotal, 499, discount, cogs, subtotal - discount - cogs, redeemed ? 1 : 0, id, 'cmp_m', redeemed ? offer : null, holdout ? 1 : 0, 'decision']);
      if (redeemed) out.redemptions.push([`red_${i}`, `o${i}`, subject, c, 'web', 'applied', at + 60_000, null, discount, discount + 50, 50, '{}']);
    }
  }
  return out;
}

const DEC_COLS = ['id', 'created_at', 'campaign_id', 'campaign_version', 'subject_id', 'customer_id', 'placement', 'channel', 'holdout', 'personalized', 'probability', 'policy', 'catalog_version', 'body', 'offer_key'];
const ORD_COLS = ['order_id', 'event_id', 'subject_id', 'customer_id', 'occurred_at', 'subtotal', 'shipping', 'discount', 'cogs', 'margin', 'with_offer', 'decision_id', 'campaign_id', 'offer_id', 'holdout', 'attribution'];
const RED_COLS = ['id', 'order_id', 'subject_id', 'customer_id', 'channel', 'status', 'created_at', 'rolled_back_at', 'discount', 'cost', 'points', 'body'];

export async function load(backend: Backend, url: string, rows: Rows): Promise<void> {
  const tables: Array<[string, string[], unknown[][]]> = [
    ['decisions', DEC_COLS, rows.decisions],
    ['orders', ORD_COLS, rows.orders],
    ['redemptions', RED_COLS, rows.redemptions],
  ];
  if (backend === 'sqlite') {
    const db = new Database(url);
    for (const [t, cols, data] of tables) {
      const st = db.prepare(`INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
      db.transaction(() => {
        for (const row of data) st.run(...(row as unknown[]));
      })();
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.exec('ANALYZE');
    db.close();
    return;
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
  for (const [t, cols, data] of tables) {
    for (let i = 0; i < data.length; i += 20_000) {
      const part = data.slice(i, i + 20_000);
      const params = cols.map((_, k) => part.map((row) => row[k]));
      const type = (k: number) => {
        if (cols[k] === 'probability') return 'double precision[]';
        if (cols[k] === 'rolled_back_at') return 'bigint[]';
        const v = data.find((row) => row[k] !== null)?.[k];
        return typeof v === 'number' ? 'bigint[]' : 'text[]';
      };
      await c.query(`INSERT INTO ${t} (${cols.join(', ')}) SELECT * FROM unnest(${cols.map((_, k) => `$${k + 1}::${type(k)}`).join(', ')})`, params);
    }
  }
  await c.query('ANALYZE');
  } finally {
    await c.end();
  }
}

export async function runMeasureBench(backend: Backend, opts: { rounds?: number } = {}) {
  const rounds = opts.rounds ?? 3;
  const db = await tempDb(backend);
  const store = openStore(db.url);
  await store.migrate();
  const engine = await createEngine({ store, random: seededRandom(1), config: { logLevel: 'silent', stopLossCheckMs: 0, expirySweepMs: 0 } });
  try {
    await importCatalog(engine.catalog, {
      products: [],
      offers: OFFERS.map((id) => ({ id, status: 'live', name: id, type: 'percent_off', value: 10 })),
      campaigns: [{ id: 'cmp_m', status: 'live', name: 'M', placements: PLACEMENTS, offers: OFFERS, holdoutPct: 10 }],
    });
    const rows = generate();
    const t0 = performance.now();
    await load(backend, db.url, rows);
    const loadSeconds = (performance.now() - t0) / 1000;
    const window = { campaignId: 'cmp_m', from: new Date(START - 1).toISOString(), to: new Date(START + 29 * 86_400_000).toISOString() };
    const time = async (q: Record<string, unknown>) => {
      const t = performance.now();
      const r = await engine.measure.incrementality({ ...window, ...q });
      return { seconds: (performance.now() - t) / 1000, sessions: r.arms.treatment.sessions + r.arms.holdout.sessions };
    };
    let sessions = 0;
    const medians = async () => {
      await time({ breakdowns: false }); // warm-up
      const full: number[] = [];
      const headline: number[] = [];
      for (let k = 0; k < rounds; k++) {
        const a = await time({ breakdowns: false });
        headline.push(a.seconds);
        const b = await time({});
        full.push(b.seconds);
        sessions = b.sessions;
      }
      return { headlineSeconds: median(headline), fullSeconds: median(full) };
    };
    // Just loaded: on PostgreSQL no page is marked all-visible yet, so reading the covering
    // index still visits the table. Then as autovacuum leaves an insert-only table.
    const fresh = await medians();
    let vacuumed: typeof fresh | null = null;
    if (backend === 'postgres') {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query('VACUUM (ANALYZE) decisions, orders, redemptions');
      await c.end();
      vacuumed = await medians();
    }
    return { backend, sessions, orders: rows.orders.length, loadSeconds, ...fresh, vacuumed };
  } finally {
    await engine.close();
    await db.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv[2] as Backend | undefined;
  const reference = median(await measure(referenceWorkload, 200_000, 5));
  console.log(`reference (sha256 1 KiB)  ${fmt(reference)} ops/s`);
  const backends: Backend[] = only ? [only] : ['sqlite', ...((await pgReachable()) ? (['postgres'] as const) : [])];
  for (const b of backends) {
    const r = await runMeasureBench(b);
    console.log(
      `${b.padEnd(9)} ${fmt(r.sessions)} sessions, ${fmt(r.orders)} orders (loaded in ${r.loadSeconds.toFixed(1)} s): report ${r.headlineSeconds.toFixed(2)} s headline, ${r.fullSeconds.toFixed(2)} s with breakdowns and offer P&L`,
    );
    if (r.vacuumed) console.log(`${''.padEnd(9)} after VACUUM: ${r.vacuumed.headlineSeconds.toFixed(2)} s headline, ${r.vacuumed.fullSeconds.toFixed(2)} s with breakdowns and offer P&L`);
  }
}
