import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIMULATOR_ACTOR } from '../auth/principal.js';
import { importCatalog } from '../catalog/import.js';
import { createEngine, type Engine } from '../app.js';
import { OfferpilotError } from '../core/errors.js';
import { fixedClock, seededRandom } from '../core/runtime.js';
import { sequentialIds } from '../ids/index.js';
import { openStore } from '../store/index.js';
import type { Scenario } from './scenario.js';

/** What the simulator needs back from a decision. */
export interface SimDecision {
  decisionId: string;
  holdout: boolean;
  offers: Array<{ offerId: string; value: number | null; token: string | null; fromWallet: boolean }>;
  /** Reason codes of the candidates the engine did not select, by offer id (budget and cap refusals among them). */
  refusals: Record<string, string[]>;
  /**
   * A learning policy's estimate of what it chose, when it chose an offer: E[CM | offer] − E[CM | no offer]
   * for this request (uplift less cost, before any budget shadow price). Absent otherwise.
   */
  estimated?: number;
}

/** What the simulator needs back from a redemption. */
export type SimRedemption = { ok: true; discountTotal: number; points: number } | { ok: false; code: string };

/**
 * The shop's side of the engine's public API, in process (the library) or over HTTP. The
 * simulator only ever talks to the engine through this.
 */
export interface ShopClient {
  /** Where it runs, for the report. */
  readonly kind: 'in-process' | 'http';
  /** The engine's current time (simulated in process; the wall clock over HTTP). */
  now(): number;
  /** Moves simulated time forward (in process only; over HTTP sessions run in real time). */
  advanceTo(t: number): void;
  importCatalog(catalog: { products: unknown[]; offers: unknown[]; campaigns: unknown[] }): Promise<void>;
  decide(request: Record<string, unknown>): Promise<SimDecision>;
  events(events: Array<Record<string, unknown>>): Promise<void>;
  redeem(request: Record<string, unknown>): Promise<SimRedemption>;
  /**
   * Lets a learning policy catch up with the outcomes just reported: the simulator calls it after
   * each flush of events (every few chunks of sessions) and once at the end. Optional: a client
   * without it costs the run nothing.
   */
  learn?(): Promise<void>;
  close(): Promise<void>;
}

type DecisionBody = {
  decisionId: string;
  holdout: boolean;
  offers: Array<{ offerId: string; value: number | null; token: string | null; fromWallet?: boolean }>;
  candidates?: Array<{ offerId: string; selected: boolean; reasons: Array<{ code: string }> }>;
  estimates?: { chosen: { action: string; uplift: number; cost: number } } | null;
};
const toDecision = (d: DecisionBody): SimDecision => {
  const refusals: Record<string, string[]> = {};
  for (const c of d.candidates ?? []) if (!c.selected) refusals[c.offerId] = c.reasons.map((r) => r.code);
  return {
    decisionId: d.decisionId,
    holdout: d.holdout,
    offers: d.offers.map((o) => ({ offerId: o.offerId, value: o.value, token: o.token, fromWallet: o.fromWallet ?? false })),
    refusals,
    ...(d.estimates && d.estimates.chosen.action !== 'none' ? { estimated: d.estimates.chosen.uplift - d.estimates.chosen.cost } : {}),
  };
};

/**
 * An engine in this process on its own SQLite file (a temporary one unless `db` is given), with
 * a simulated clock and a seeded random source, so a run is reproducible.
 */
export async function inProcessClient(opts: { start: number; seed: number; db?: string; scenario?: Scenario; config?: Record<string, unknown> }): Promise<ShopClient & { engine: Engine }> {
  const dir = opts.db ? null : mkdtempSync(join(tmpdir(), 'offerpilot-sim-'));
  const store = openStore(opts.db ?? join(dir!, 'sim.db'));
  await store.migrate();
  const clock = fixedClock(opts.start);
  const engine = await createEngine({
    store,
    clock,
    random: seededRandom(opts.seed),
    ids: sequentialIds(),
    config: {
      logLevel: 'silent',
      catalogRefreshMs: 0,
      expirySweepMs: 0,
      // Timers run on the wall clock, not the simulated one: training and stop-loss happen when
      // the simulator calls them, or a run would depend on how fast the machine is.
      learnEveryMs: 0,
      stopLossCheckMs: 0,
      tokenKeys: 'sim:simulator-key',
      // The shop tells the engine what free shipping and a point cost it.
      ...(opts.scenario ? { shippingCost: opts.scenario.shippingFee, pointValue: opts.scenario.pointValue } : {}),
      ...opts.config,
    },
  });
  return {
    kind: 'in-process',
    engine,
    now: () => clock.now(),
    advanceTo: (t) => {
      if (t > clock.now()) clock.set(t);
    },
    importCatalog: async (c) => {
      await importCatalog(engine.catalog, c, SIMULATOR_ACTOR);
    },
    // The simulated clock does not run the engine's training timer: train when outcomes arrive.
    learn: async () => {
      await engine.learning.train();
    },
    decide: async (r) => toDecision(await engine.decide(r)),
    events: async (events) => {
      await engine.events.ingest({ events });
    },
    redeem: async (r) => {
      try {
        const v = await engine.wallet.redeem(r);
        return { ok: true, discountTotal: v.discountTotal, points: v.points };
      } catch (e) {
        if (e instanceof OfferpilotError) return { ok: false, code: e.code };
        throw e;
      }
    },
    close: async () => {
      await engine.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A running Offerpilot server: `key` needs the admin scope (the simulator imports its catalog). */
export function httpClient(baseUrl: string, key: string): ShopClient {
  const url = baseUrl.replace(/\/+$/, '');
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    // A 503 from an overloaded ingester says when to retry; the simulator waits instead of dropping.
    for (let attempt = 0; ; attempt++) {
      const r = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const parsed: unknown = await r.json().catch(() => null);
      if (r.status === 503 && attempt < 20) {
        await new Promise((res) => setTimeout(res, 1000 * Number(r.headers.get('retry-after') ?? 1)));
        continue;
      }
      return { status: r.status, body: parsed };
    }
  };
  const must = async (method: string, path: string, body?: unknown) => {
    const r = await call(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  return {
    kind: 'http',
    now: () => Date.now(),
    advanceTo: () => undefined,
    importCatalog: async (c) => {
      await must('POST', '/v1/catalog/import', c);
    },
    decide: async (r) => toDecision(await must('POST', '/v1/decide', r)),
    events: async (events) => {
      await must('POST', '/v1/events', { events });
    },
    redeem: async (r) => {
      const res = await call('POST', '/v1/redemptions', r);
      if (res.status === 201 || res.status === 200) return { ok: true, discountTotal: res.body.discountTotal, points: res.body.points };
      if (res.status >= 400 && res.status < 500 && res.body?.error?.code) return { ok: false, code: res.body.error.code };
      throw new Error(`POST /v1/redemptions: ${res.status} ${JSON.stringify(res.body)}`);
    },
    close: async () => undefined,
  };
}
