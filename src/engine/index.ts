import { pino, type Logger } from 'pino';
import { ApiKeys } from '../auth/index.js';
import { CatalogService } from '../catalog/service.js';
import type { OfferType } from '../core/catalog.js';
import { buildSnapshot, type CatalogSnapshot, type CompiledOffer } from '../core/snapshot.js';
import { loadConfig, type Config } from '../config/index.js';
import { ConsentSchema, type Consent } from '../core/request.js';
import { counterKeys, decide, type CounterView, type Decision, type DecideDefaults } from '../core/decide.js';
import { DecideRequestSchema, type DecideRequest } from '../core/request.js';
import type { Reason } from '../core/reasons.js';
import { OfferpilotError } from '../core/errors.js';
import { parseInput } from '../core/validate.js';
import { randomIds, type IdGenerator } from '../ids/index.js';
import { customerSubject, subjectIdOf, type SubjectRef } from '../core/subject.js';
import { systemClock, utcDay, type Clock, type Random } from '../core/runtime.js';
import type { CustomerRecord, Store } from '../store/ports.js';
import { watchStore, type StoreHealth } from '../store/errors.js';
import { newTokenSecret, parseTokenKeys, TokenSigner } from '../tokens/index.js';
import { z } from 'zod';
import { packLog, unpackLog } from '../core/log-codec.js';
import { computeFeatures, IMPRESSION_WINDOW_MS, type CustomerFeatures } from '../customers/index.js';
import { Ingestor } from '../events/index.js';
import { liabilityReport, type LiabilityReport } from '../ledger/index.js';
import { CODE_CHANNELS, newCouponCode } from '../wallet/codes.js';
import { Wallet } from '../wallet/service.js';
import { PROGRAM } from '../store/measure-reads.js';
import { incrementalityReport, readout, stopLoss, type IncrementalityQuery, type IncrementalityReport, type Readout, type ReportDeps, type StopLossResult } from '../measure/index.js';

export { packLog, unpackLog } from '../core/log-codec.js';

/** One offer in a decision response. */
export interface OfferView {
  issuanceId: string;
  offerId: string;
  version: number;
  name: string;
  type: OfferType;
  value: number | null;
  discount: number;
  points: number;
  score: number;
  expiresAt: string;
  /** Signed token to redeem at checkout; null for content, which has nothing to redeem. */
  token: string | null;
  /** Human-enterable coupon code (e-mail, SMS and push decisions); redeems the same wallet entry as the token. */
  code: string | null;
  /** True when the customer already held this entry: the same issuance, token, value and expiry are presented again. */
  fromWallet: boolean;
}

/** The decide API's answer; also what the decision log stores. */
export interface DecisionResponse {
  decisionId: string;
  requestId: string | null;
  campaignId: string | null;
  campaignVersion: number | null;
  catalogVersion: number;
  holdout: boolean;
  /** In the program-level holdout (no campaign shows this customer anything). */
  globalHoldout: boolean;
  personalized: boolean;
  policy: string | null;
  probability: number;
  offers: OfferView[];
  reasons: Reason[];
  candidates: Decision['candidates'];
  basket: Decision['basket'];
  decidedAt: string;
}

export interface EngineDeps {
  store: Store;
  config?: Partial<Config> | Config;
  clock?: Clock;
  random?: Random;
  ids?: IdGenerator;
  logger?: Logger;
  /** Coupon code source (default: 60 random bits from the OS). */
  codes?: () => string;
}

/** The engine: the composition root every surface (library, HTTP, CLI, simulator) uses. */
export interface Engine {
  readonly store: Store;
  readonly config: Config;
  readonly catalog: CatalogService;
  readonly keys: ApiKeys;
  readonly logger: Logger;
  readonly tokens: TokenSigner;
  /** Decides, commits (reservations, wallet entries, log) and returns the decision. */
  decide(request: unknown): Promise<DecisionResponse>;
  /** Decides without committing anything: a dry run for previews and tests. */
  preview(request: unknown): Promise<Decision>;
  getDecision(id: string): Promise<DecisionResponse & { log: unknown }>;
  putCustomer(id: string, body: unknown): Promise<CustomerRecord>;
  getCustomer(id: string): Promise<CustomerRecord>;
  /** A customer's (a string is always a customer id) or an anonymous visitor's features as rules see them. */
  features(who: string | SubjectRef): Promise<CustomerFeatures>;
  /** Erases a customer's profile, features and personal data; outcomes stay, anonymised. */
  eraseCustomer(id: string): Promise<{ erased: boolean }>;
  /** Outcome events: batches, idempotent by event id, attributed, durable when acknowledged. */
  readonly events: Ingestor;
  /** Wallet, redemptions, rollbacks and expiry. */
  readonly wallet: Wallet;
  /** Liabilities per offer and day (runs the expiry sweep first). */
  liabilities(query: { from?: string; to?: string; offerId?: string }): Promise<LiabilityReport>;
  /** Incrementality: treatment against holdout in contribution margin; readout; stop-loss. */
  readonly measure: {
    incrementality(query?: IncrementalityQuery): Promise<IncrementalityReport>;
    readout(query?: { campaignId?: string | null; to?: string; level?: number }): Promise<Readout>;
    /** Pauses live campaigns whose incremental CM is surely negative; returns what it found. */
    stopLoss(): Promise<StopLossResult[]>;
    guardLog(campaignId: string): Promise<Array<{ id: string; campaignId: string; at: string; action: string; evidence: unknown }>>;
  };
  /** Whether the store's writes are failing (disk full, read-only, locked, unreachable), for /health. */
  storeHealth(): StoreHealth;
  /** The catalog snapshot decisions currently read (reloaded when another process changes it). */
  snapshot(): Promise<CatalogSnapshot>;
  close(): Promise<void>;
}

/** Limits held in shared counters: after losing a race on one, the fresh count decides again. */
const SHARED_LIMITS = new Set(['GLOBAL_CAP', 'BUDGET_EXHAUSTED', 'DAILY_LIABILITY']);

const CustomerPutSchema = z
  .object({
    traits: z.record(z.string().max(100), z.unknown()).default({}),
    consent: ConsentSchema.default({}),
  })
  .strict();

/** Wires store, clock, random source, ids, logger and config into an engine. Call `store.migrate()` first. */
export async function createEngine(deps: EngineDeps): Promise<Engine> {
  const config = Object.isFrozen(deps.config) ? (deps.config as Config) : loadConfig(deps.config ?? {}, {});
  // Storage failures leave the store as 503 codes (never a bare driver error), and write outcomes are tracked.
  const { store, health: storeHealth } = watchStore(deps.store);
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const ids = deps.ids ?? randomIds;
  const logger = deps.logger ?? pino({ level: config.logLevel });
  const defaults: DecideDefaults = {
    marginFloorPct: config.marginFloorPct,
    shippingCost: config.shippingCost,
    pointValue: config.pointValue,
    pointsPerMajorUnit: config.pointsPerMajorUnit,
    merchantFeeBpsPerMonth: config.merchantFeeBpsPerMonth,
    globalHoldoutPct: config.globalHoldoutPct,
  };
  // Without configured keys, one generated secret is kept in the database so every process shares it.
  const tokenKeys = config.tokenKeys ? parseTokenKeys(config.tokenKeys) : [{ kid: 'db1', secret: await store.getOrCreateSetting('token_key.db1', newTokenSecret) }];
  const tokens = new TokenSigner(tokenKeys);
  // Keys from the environment keep the secret out of the database; one generated earlier is
  // still in it and still lets whoever reads the file forge tokens, if it is listed.
  if (config.tokenKeys && (await store.getSetting('token_key.db1')) !== null) {
    logger.warn('the database still holds a generated token secret (settings token_key.db1): once no live token needs it, delete it (see README, "Secrets on disk")');
  }

  // Catalog snapshot: rebuilt when the catalog version changes. A snapshot is served only while
  // the check that produced it *started* less than catalogRefreshMs ago, so what a request reads
  // is never older than that bound; past it, requests wait for one shared check.
  const compiledCache = new Map<string, CompiledOffer>();
  let snap: CatalogSnapshot | null = null;
  let checkedAt = -Infinity;
  // Bumped by this process's own edits: a check begun before an edit cannot vouch for it.
  let epoch = 0;
  let loading: { epoch: number; promise: Promise<CatalogSnapshot> } | null = null;
  const reload = async (): Promise<CatalogSnapshot> => {
    const data = await store.loadCatalog();
    // Two overlapping checks (an edit began a second one) may finish out of order: keep the newer.
    if (snap && snap.version > data.version) return snap;
    snap = buildSnapshot(data.version, data.offers, data.campaigns, data.products, compiledCache);
    // Keep compiled rules only for the versions still current.
    const current = new Set(data.offers.map((o) => `${o.id}@${o.version}`));
    for (const k of compiledCache.keys()) if (!current.has(k)) compiledCache.delete(k);
    counterAt = -Infinity;
    return snap;
  };
  const check = (): Promise<CatalogSnapshot> => {
    const mine = { epoch, promise: null as unknown as Promise<CatalogSnapshot> };
    const started = performance.now();
    mine.promise = (async () => {
      try {
        const v = await store.catalogVersion();
        const s = snap && snap.version === v ? snap : await reload();
        if (mine.epoch === epoch) checkedAt = Math.max(checkedAt, started);
        return s;
      } finally {
        if (loading === mine) loading = null;
      }
    })();
    loading = mine;
    return mine.promise;
  };
  /** The current catalog snapshot, at most catalogRefreshMs older than the database's. */
  async function snapshot(): Promise<CatalogSnapshot> {
    if (snap && performance.now() - checkedAt < config.catalogRefreshMs) return snap;
    if (loading && loading.epoch === epoch) return loading.promise;
    return check();
  }
  const invalidate = () => {
    epoch++;
    checkedAt = -Infinity;
  };

  // Guardrail counter view: a bounded-staleness cache; the commit step is what enforces.
  const counters = new Map<string, number>();
  let counterAt = -Infinity;
  let counterDay = '';
  const view: CounterView = { get: (k) => counters.get(k) ?? 0 };
  function guardedKeys(s: CatalogSnapshot, day: string, only?: string): string[] {
    const keys: string[] = [];
    for (const c of s.offers.values()) {
      const o = c.offer;
      if (only !== undefined && o.id !== only) continue;
      if (o.status !== 'live') continue;
      if (o.caps.global !== undefined) keys.push(counterKeys.issued(o.id));
      if (o.budget.total !== undefined) keys.push(counterKeys.spent(o.id));
      if (o.budget.dailyLiability !== undefined) keys.push(counterKeys.daily(o.id, day));
    }
    return keys;
  }
  async function refreshCounters(s: CatalogSnapshot, now: number, only?: string): Promise<void> {
    const day = utcDay(now);
    const keys = guardedKeys(s, day, only);
    // Stamped with when the read began: the view is as old as the read, not as its answer.
    const started = performance.now();
    const fresh = await store.readCounters(keys);
    if (only === undefined) counters.clear();
    for (const k of keys) counters.set(k, fresh.get(k) ?? 0);
    if (only === undefined && s === snap) {
      counterAt = started;
      counterDay = day;
    }
  }
  // One full re-read at a time, shared by the requests that find the view too old.
  let counterLoading: { snap: CatalogSnapshot; day: string; promise: Promise<void> } | null = null;
  async function counterView(s: CatalogSnapshot, now: number): Promise<CounterView> {
    const day = utcDay(now);
    if (performance.now() - counterAt < config.counterRefreshMs && counterDay === day) return view;
    if (!counterLoading || counterLoading.snap !== s || counterLoading.day !== day) {
      const mine = { snap: s, day, promise: null as unknown as Promise<void> };
      mine.promise = refreshCounters(s, now).finally(() => {
        if (counterLoading === mine) counterLoading = null;
      });
      counterLoading = mine;
    }
    await counterLoading.promise;
    return view;
  }

    async function subjectFor(req: DecideRequest, now: number, s: CatalogSnapshot) {
    const subjectId = subjectIdOf(req);
    // Features cost two reads per decision: only when a live rule reads them.
    const stored = await store.loadSubject(subjectId, req.customerId ?? null, s.readsFeatures ? now - IMPRESSION_WINDOW_MS : null);
    return {
      subjectId,
      customerId: req.customerId ?? null,
      anonymousId: req.anonymousId ?? null,
      traits: req.traits ? { ...stored.traits, ...req.traits } : stored.traits,
      consent: req.consent ? { ...stored.consent, ...req.consent } : stored.consent,
      features: s.readsFeatures ? (computeFeatures(stored.features, stored.impressions, now) as unknown as Record<string, unknown>) : {},
      issuances: stored.issuances,
      // Open entries come from the same read as the cap history: no extra query per decision.
      wallet: stored.issuances
        .filter((i) => i.status === 'issued' && i.expiresAt > now)
        .map((i) => ({ issuanceId: i.id, offerId: i.offerId, version: i.version, value: i.value, expiresAt: i.expiresAt, code: i.code })),
    };
  }

  function respond(d: Decision, decisionId: string, issuanceIds: string[], codes: Array<string | null>, req: DecideRequest, catalogVersion: number): DecisionResponse {
    return {
      decisionId,
      requestId: req.requestId ?? null,
      campaignId: d.campaign?.id ?? null,
      campaignVersion: d.campaign?.version ?? null,
      catalogVersion,
      holdout: d.holdout,
      globalHoldout: d.globalHoldout,
      personalized: d.personalized,
      policy: d.policy,
      probability: d.probability,
      offers: d.chosen.map((c, i) => ({
        issuanceId: issuanceIds[i]!,
        offerId: c.offerId,
        version: c.held?.version ?? c.version,
        name: c.name,
        type: c.type,
        value: c.value,
        discount: c.discount,
        points: c.points,
        score: c.score,
        expiresAt: new Date(c.expiresAt).toISOString(),
        // Signed from the issuance's claims, so a held entry gets back the very token it was issued with.
        token: c.type === 'content' ? null : tokens.sign({ iss: issuanceIds[i]!, ofr: c.offerId, ver: c.held?.version ?? c.version, sub: d.subjectId, val: c.value, exp: Math.floor(c.expiresAt / 1000) }),
        code: codes[i] ?? null,
        fromWallet: c.held !== null,
      })),
      reasons: d.reasons,
      candidates: d.candidates,
      basket: d.basket,
      decidedAt: new Date(d.decidedAt).toISOString(),
    };
  }

  async function loadLogged(decisionId: string): Promise<{ response: DecisionResponse; log: unknown }> {
    const stored = await store.getDecision(decisionId);
    if (!stored) throw new OfferpilotError('DECISION_NOT_FOUND', `No decision ${decisionId}`);
    return unpackLog(stored.body);
  }

  const makeCode = deps.codes ?? newCouponCode;
  const events = new Ingestor({
    store,
    snapshot,
    tokens,
    clock,
    maxPending: config.ingestMaxPending,
    // SQLite has a single writer that queues batches anyway; the limit guards PostgreSQL's pool.
    concurrency: store.dialect === 'sqlite' ? Number.MAX_SAFE_INTEGER : config.ingestConcurrency,
  });
  const wallet = new Wallet({
    store,
    tokens,
    clock,
    ids,
    products: async () => (await snapshot()).products,
    currentOffer: async (id) => (await snapshot()).offers.get(id)?.offer,
    defaults: { pointValue: config.pointValue, pointsPerMajorUnit: config.pointsPerMajorUnit, merchantFeeBpsPerMonth: config.merchantFeeBpsPerMonth },
  });
  // Breakage is booked by a periodic sweep (any process may run it: each expiry is claimed once).
  const sweeper =
    config.expirySweepMs > 0
      ? setInterval(() => {
          wallet.sweep().catch((err: unknown) => logger.warn({ err }, 'expiry sweep failed'));
        }, config.expirySweepMs).unref()
      : null;

  const catalog = new CatalogService(store, clock, ids, invalidate);
  const measureDeps = async (): Promise<ReportDeps> => {
    const campaigns = new Map((await catalog.listCampaigns()).map((c) => [c.id, c]));
    return {
      store,
      now: clock.now(),
      settings: {
        minCustomersPerArm: config.measureMinCustomersPerArm,
        minDays: config.measureMinDays,
        liftThreshold: config.measureLiftThreshold,
        sequentialPlannedUnits: config.sequentialPlannedUnits,
      },
      campaign: (id) => {
        if (id === PROGRAM) return { holdoutShare: config.globalHoldoutPct / 100, createdAt: 0 };
        const c = campaigns.get(id);
        // Campaign holdouts are drawn among customers outside the program-level holdout.
        return c ? { holdoutShare: c.holdoutPct / 100, createdAt: Date.parse(c.createdAt) } : null;
      },
    };
  };
  const measure: Engine['measure'] = {
    async incrementality(query = {}) {
      if (query.campaignId) await catalog.getCampaign(query.campaignId);
      return incrementalityReport(await measureDeps(), query);
    },
    async readout(query = {}) {
      if (query.campaignId) await catalog.getCampaign(query.campaignId);
      return readout(await measureDeps(), query);
    },
    async stopLoss() {
      return stopLoss({
        ...(await measureDeps()),
        campaigns: () => catalog.listCampaigns('live'),
        pause: async (id) => {
          // Every process runs the stop-loss: the first to pause wins, the others see it paused.
          if ((await catalog.getCampaign(id)).status !== 'live') return false;
          try {
            await catalog.transitionCampaign(id, 'paused');
          } catch (err) {
            if ((await catalog.getCampaign(id)).status !== 'live') return false;
            throw err;
          }
          logger.warn({ campaignId: id }, 'campaign paused by stop-loss: incremental contribution margin is below zero');
          return true;
        },
        log: (row) => store.logGuardAction(row),
        newId: () => ids('guard'),
      });
    },
    async guardLog(campaignId) {
      await catalog.getCampaign(campaignId);
      return (await store.guardLog(campaignId)).map((r) => ({ id: r.id, campaignId: r.campaign_id, at: new Date(r.at).toISOString(), action: r.action, evidence: JSON.parse(r.evidence) as unknown }));
    },
  };
  const guard =
    config.stopLossCheckMs > 0
      ? setInterval(() => {
          measure.stopLoss().catch((err: unknown) => logger.warn({ err }, 'stop-loss check failed'));
        }, config.stopLossCheckMs).unref()
      : null;

  const engine: Engine = {
    store,
    measure,
    events,
    wallet,
    config,
    logger,
    tokens,
    keys: new ApiKeys(store, ids, config.apiKeyCacheMs),
    catalog,

    async decide(raw) {
      const req = parseInput(DecideRequestSchema, raw);
      // Idempotency keys are scoped to the customer: another customer's key never replays this one's decision.
      const requestKey = req.requestId !== undefined ? JSON.stringify([subjectIdOf(req), req.requestId]) : undefined;
      if (requestKey !== undefined) {
        const dup = await store.findDecisionByRequestId(requestKey);
        if (dup) return unpackLog(dup.body).response;
      }
      let s = await snapshot();
      const now = clock.now();
      let [subject, cview] = await Promise.all([subjectFor(req, now, s), counterView(s, now)]);
      const exclusions = new Map<string, Reason>();
      let reloads = 0;
      const recounted = new Set<string>();
      const reheld = new Set<string>();
      // Ends: each round commits, or reloads the catalog (at most 3 times), or re-counts an offer
      // (once each), or excludes an offer (once each).
      for (;;) {
        const d = decide({ request: req, snapshot: s, subject, counters: cview, now, random, defaults, exclusions });
        const decisionId = ids('decision');
        const issuanceIds = d.chosen.map((c) => c.held?.issuanceId ?? ids('issuance'));
        // Content has nothing to redeem, so no code; a held entry keeps the code it was issued with.
        const codes = d.chosen.map((c) => (c.held !== null ? c.held.code : CODE_CHANNELS.has(req.channel) && c.type !== 'content' ? makeCode() : null));
        const response = respond(d, decisionId, issuanceIds, codes, req, s.version);
        const log = {
          request: {
            placement: req.placement,
            channel: req.channel,
            context: req.context ?? null,
            cart: req.cart ?? null,
            // Profile data is logged only for consenting customers: it is what later policies may use.
            traits: d.personalized ? subject.traits : null,
            consent: subject.consent,
          },
          counterfactual: d.counterfactual,
          chosenCosts: d.chosen.map((c) => ({ offerId: c.offerId, cost: c.cost, reserve: c.reserve })),
          // Entries presented again from the wallet: no reservation, no new issuance.
          fromWallet: d.chosen.filter((c) => c.held !== null).map((c) => c.held!.issuanceId),
        };
        const body = packLog(response, log);
        const meta = { decisionId, issuanceIds, codes, catalogVersion: s.version, body, ...(requestKey !== undefined ? { requestId: requestKey } : {}) };
        const r = await store.commitDecision(d, meta);
        if (r.status === 'committed') {
          for (const [k, v] of Object.entries(r.counters)) if (counters.has(k)) counters.set(k, v);
          return response;
        }
        if (r.status === 'duplicate') return (await loadLogged(r.decisionId)).response;
        if (r.reason.code === 'OFFER_CHANGED' && reloads++ < 3) {
          // Another process edited the catalog: decide again on the fresh catalog.
          invalidate();
          const before = s.readsFeatures;
          s = await snapshot();
          // The fresh catalog may have a rule reading features the subject was loaded without.
          if (s.readsFeatures && !before) subject = await subjectFor(req, now, s);
          continue;
        }
        if (r.reason.code === 'ALREADY_HELD' && !reheld.has(r.offerId)) {
          // A concurrent decision issued it first: reread the wallet and present that entry instead.
          reheld.add(r.offerId);
          subject = await subjectFor(req, now, s);
          continue;
        }
        await refreshCounters(s, now, r.offerId);
        if (SHARED_LIMITS.has(r.reason.code) && !recounted.has(r.offerId)) {
          // Decide once more on fresh counters: a cheaper rung of a ladder may still fit.
          recounted.add(r.offerId);
          continue;
        }
        exclusions.set(r.offerId, r.reason);
        logger.debug({ offerId: r.offerId, reason: r.reason }, 'guardrail reservation lost a race; re-deciding');
      }
    },

    async preview(raw) {
      const req = parseInput(DecideRequestSchema, raw);
      const s = await snapshot();
      const now = clock.now();
      const [subject, cview] = await Promise.all([subjectFor(req, now, s), counterView(s, now)]);
      return decide({ request: req, snapshot: s, subject, counters: cview, now, random, defaults });
    },

    async getDecision(id) {
      const body = await loadLogged(id);
      return { ...body.response, log: body.log };
    },

    async putCustomer(id, body) {
      const parsed = parseInput(CustomerPutSchema, body);
      return store.putCustomer(id, parsed.traits, parsed.consent as Consent, clock.now());
    },

    async getCustomer(id) {
      const c = await store.getCustomer(id);
      if (!c) throw new OfferpilotError('CUSTOMER_NOT_FOUND', `No customer ${id}`);
      return c;
    },

    async features(who) {
      const now = clock.now();
      // Never inferred from the id's shape: a customer id may itself start with `a:`.
      const subject = typeof who === 'string' ? customerSubject(who) : subjectIdOf(who);
      const stored = await store.loadSubject(subject, null, now - IMPRESSION_WINDOW_MS);
      return computeFeatures(stored.features, stored.impressions, now);
    },

    async eraseCustomer(id) {
      // The decision log keeps what was decided, not who for: traits and request context go.
      const scrub = (body: string) => {
        const { response, log } = unpackLog(body) as { response: DecisionResponse; log: { request?: Record<string, unknown> } };
        if (log.request) log.request = { ...log.request, traits: null, context: null, cart: null };
        // Offer tokens name the subject they were issued to; codes are bearer credentials.
        const offers = response.offers.map((o) => ({ ...o, token: '', code: null }));
        return packLog({ ...response, requestId: null, offers }, log);
      };
      const erased = await store.eraseCustomer(id, ids('erased'), scrub);
      logger.info({ erased }, 'customer erasure');
      return { erased };
    },

    async liabilities(query) {
      await wallet.sweep(Number.MAX_SAFE_INTEGER);
      const s = await snapshot();
      return liabilityReport(store, { ...query, now: clock.now(), pointValue: (id) => s.offers.get(id)?.offer.pointValue ?? config.pointValue });
    },

    snapshot,
    storeHealth,

    close: async () => {
      if (sweeper) clearInterval(sweeper);
      if (guard) clearInterval(guard);
      await store.close();
    },
  };
  return engine;
}
