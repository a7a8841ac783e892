/**
 * Incrementality report over 1,000,000 logged sessions (decisions) of one campaign: 200,000
 * customers, a 10% holdout, 5% of sessions with an order, half of treated orders redeeming an
 * offer; every treated session issued its offer (~900k issues, which the offer P&L reads), and
 * those not redeemed expired (on the liability ledger). The rows are written straight into the tables (decide would take minutes to log a
 * million sessions); the report then runs exactly as the API runs it. Median of 3; on
 * PostgreSQL again after a VACUUM (the state autovacuum keeps the tables in).
 *   npm run bench:build && node .bench-build/bench/measure.js [sqlite|postgres]
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { importCatalog } from '../src/catalog/import.js';
import { inHoldout } from '../src/core/holdout.js';
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
  issuances: unknown[][];
  items: unknown[][];
  ledger: unknown[][];
}

const DAY = 86_400_000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function generate(): Rows {
  const r = seededRandom(11);
  const out: Rows = { decisions: [], orders: [], redemptions: [], issuances: [], items: [], ledger: [] };
  for (let i = 0; i < SESSIONS; i++) {
    const c = `c${Math.floor(r() * CUSTOMERS)}`;
    const subject = `c:${c}`;
    const holdout = inHoldout('cmp_m', c, 10);
    const offer = OFFERS[i % 3]!;
    const id = `dec_${String(i).padStart(8, '0')}`;
    const at = START + Math.floor((i / SESSIONS) * 28 * 86_400_000);
    const placement = PLACEMENTS[i % 3]!;
    const channel = i % 4 === 0 ? 'app' : 'web';
    out.decisions.push([id, at, 'cmp_m', 1, subject, c, placement, channel, holdout ? 1 : 0, 1, 1, 'static:expected_value', 1, '{}', `${offer}@10`]);
    let redeemedHere = false;
    if (r() < (holdout ? 0.045 : 0.05)) {
      const subtotal = 3000 + Math.floor(r() * 9000);
      const redeemed = !holdout && r() < 0.5;
      const discount = redeemed ? Math.round(subtotal * 0.1) : 0;
      const cogs = Math.round(subtotal * 0.45);
      out.orders.push([`o${i}`, `e${i}`, subject, c, at + 60_000, subtotal, 499, discount, cogs, subtotal - discount - cogs, redeemed ? 1 : 0, id, 'cmp_m', redeemed ? offer : null, holdout ? 1 : 0, 'decision']);
      if (redeemed) {
        out.redemptions.push([`red_${i}`, `o${i}`, subject, c, 'web', 'applied', at + 60_000, null, discount, discount + 50, 50, '{}']);
        out.items.push([`red_${i}`, `iss_${i}`, offer, discount, discount + 50, 50]);
        out.ledger.push([`red_${i}:iss_${i}:redeem`, `iss_${i}`, offer, 'redeem', utcDay(at + 60_000), at + 60_000, -750, discount + 50, 50, `red_${i}`]);
        redeemedHere = true;
      }
    }
    // Every treated session issued its offer (a wallet entry with a reserved cost); those not
    // redeemed expired a week later, as the expiry sweep leaves them (breakage on the ledger).
    if (!holdout) {
      const expires = at + 7 * DAY;
      out.issuances.push([`iss_${i}`, id, offer, 1, 'cmp_m', subject, c, channel, placement, 10, 700, 750, 750, 0, utcDay(at), at, expires, redeemedHere ? 'redeemed' : 'expired']);
      if (!redeemedHere) out.ledger.push([`iss_${i}:expire`, `iss_${i}`, offer, 'expire', utcDay(expires), expires, -750, 0, 0, null]);
    }
  }
  return out;
}

const DEC_COLS = ['id', 'created_at', 'campaign_id', 'campaign_version', 'subject_id', 'customer_id', 'placement', 'channel', 'holdout', 'personalized', 'probability', 'policy', 'catalog_version', 'body', 'offer_key'];
const ORD_COLS = ['order_id', 'event_id', 'subject_id', 'customer_id', 'occurred_at', 'subtotal', 'shipping', 'discount', 'cogs', 'margin', 'with_offer', 'decision_id', 'campaign_id', 'offer_id', 'holdout', 'attribution'];
const RED_COLS = ['id', 'order_id', 'subject_id', 'customer_id', 'channel', 'status', 'created_at', 'rolled_back_at', 'discount', 'cost', 'points', 'body'];
const ISS_COLS = ['id', 'decision_id', 'offer_id', 'offer_version', 'campaign_id', 'subject_id', 'customer_id', 'channel', 'placement', 'value', 'discount', 'cost', 'reserved', 'points', 'liability_day', 'issued_at', 'expires_at', 'status'];
const ITEM_COLS = ['redemption_id', 'issuance_id', 'offer_id', 'discount', 'cost', 'points'];
const LEDGER_COLS = ['id', 'issuance_id', 'offer_id', 'kind', 'day', 'at', 'liability', 'cost', 'points', 'redemption_id'];

export async function load(backend: Backend, url: string, rows: Rows): Promise<void> {
  const tables: Array<[string, string[], unknown[][]]> = [
    ['decisions', DEC_COLS, rows.decisions],
    ['orders', ORD_COLS, rows.orders],
    ['redemptions', RED_COLS, rows.redemptions],
    ['issuances', ISS_COLS, rows.issuances],
    ['redemption_items', ITEM_COLS, rows.items],
    ['liability_ledger', LEDGER_COLS, rows.ledger],
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
        if (cols[k] === 'redemption_id') return 'text[]';
        if (cols[k] === 'value') return 'double precision[]';
        if (cols[k] === 'offer_version') return 'integer[]';
        const v = data.find((row) => row[k] !== null)?.[k];
        return typeof v === 'number' ? 'bigint[]' : 'text[]';
      };
      await c.query(`INSERT INTO ${t} (${cols.join(', ')}) SELECT * FROM unnest(${cols.map((_, k) => `$${k + 1}::${type(k)}`).join(', ')})`, params);
    }
  }
  await c.query('ANALYZE');
  // Write the loaded pages out now rather than under the first measurements.
  await c.query('CHECKPOINT').catch(() => undefined);
  } finally {
    await c.end();
  }
}

const TABLES = ['decisions', 'orders', 'redemptions', 'issuances', 'redemption_items', 'liability_ledger'];

async function pgExec(url: string, text: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(text);
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
      campaigns: [{ id: 'cmp_m', status: 'live', name: 'M', placements: PLACEMENTS, offers: OFFERS, policy: { type: 'static' }, holdoutPct: 10 }],
    });
    let rows: Rows | null = generate();
    // Autovacuum would visit the tables during the first rounds, mixing the two states measured.
    if (backend === 'postgres') await pgExec(db.url, TABLES.map((t) => `ALTER TABLE ${t} SET (autovacuum_enabled = off)`).join('; '));
    const t0 = performance.now();
    await load(backend, db.url, rows);
    const loadSeconds = (performance.now() - t0) / 1000;
    const loaded = { orders: rows.orders.length, issuances: rows.issuances.length };
    // A server does not hold millions of generated rows while it reports: let them go.
    rows = null;
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
      await pgExec(db.url, TABLES.map((t) => `ALTER TABLE ${t} RESET (autovacuum_enabled)`).join('; '));
      await pgExec(db.url, `VACUUM (ANALYZE) ${TABLES.join(', ')}`);
      await pgExec(db.url, 'CHECKPOINT').catch(() => undefined);
      vacuumed = await medians();
    }
    return { backend, sessions, ...loaded, loadSeconds, ...fresh, vacuumed };
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
      `${b.padEnd(9)} ${fmt(r.sessions)} sessions, ${fmt(r.orders)} orders, ${fmt(r.issuances)} offers issued (loaded in ${r.loadSeconds.toFixed(1)} s): report ${r.headlineSeconds.toFixed(2)} s headline, ${r.fullSeconds.toFixed(2)} s with breakdowns and offer P&L`,
    );
    if (r.vacuumed) console.log(`${''.padEnd(9)} after VACUUM: ${r.vacuumed.headlineSeconds.toFixed(2)} s headline, ${r.vacuumed.fullSeconds.toFixed(2)} s with breakdowns and offer P&L`);
  }
}
