import { pino, type Logger } from 'pino';
import { ApiKeys } from './auth/index.js';
import { STOP_LOSS_ACTOR, type Actor } from './auth/principal.js';
import { CatalogService } from './catalog/service.js';
import { snapshotSource } from './catalog/snapshots.js';
import { decideDefaults, loadConfig, type Config } from './config/index.js';
import type { Decision } from './core/decide.js';
import type { DecisionResponse } from './core/response.js';
import { systemClock, type Clock, type Random } from './core/runtime.js';
import type { CatalogSnapshot } from './core/snapshot.js';
import type { SubjectRef } from './core/subject.js';
import { CustomerService } from './customers/service.js';
import type { CustomerFeatures } from './customers/features.js';
import { CounterCache } from './decisions/counters.js';
import { DecisionService } from './decisions/service.js';
import { Ingestor } from './events/index.js';
import { randomIds, type IdGenerator } from './ids/index.js';
import type { LiabilityReport } from './ledger/report.js';
import { PolicyStateSource } from './learning/state.js';
import type { PolicyResolver } from './core/policies.js';
import { Trainer } from './learning/trainer.js';
import { LearningService } from './learning/service.js';
import type { StatsHook } from './learning/stats.js';
import { LedgerService } from './ledger/service.js';
import { MeasureService } from './measure/service.js';
import { watchStore, type StoreHealth } from './store/errors.js';
import type { CustomerRecord, Store } from './store/ports.js';
import { newTokenSecret, parseTokenKeys, TokenSigner } from './tokens/index.js';
import { newCouponCode } from './wallet/codes.js';
import { Wallet } from './wallet/service.js';

export type { DecisionResponse, OfferView } from './core/response.js';

export interface EngineDeps {
  store: Store;
  config?: Partial<Config> | Config;
  clock?: Clock;
  random?: Random;
  ids?: IdGenerator;
  logger?: Logger;
  /** Coupon code source (default: 60 random bits from the OS). */
  codes?: () => string;
  /** Policies beyond the catalog's built-in ones (learners, tests): see PolicyResolver. */
  policies?: PolicyResolver;
  /** Statistic updates each new event applies with it (learners' reward counts); default none. */
  statsFor?: StatsHook;
}

/**
 * The engine: one service per capability, built over one store. Every surface (library, HTTP,
 * CLI, simulator) goes through the services; the store itself is not handed out, so nothing
 * can go around them.
 */
export interface Engine {
  readonly config: Config;
  readonly logger: Logger;
  readonly tokens: TokenSigner;
  /** Which backend the store is. */
  readonly dialect: Store['dialect'];
  readonly catalog: CatalogService;
  readonly keys: ApiKeys;
  /** Decide, preview and the decision log. */
  readonly decisions: DecisionService;
  /** Profiles, features and erasure. */
  readonly customers: CustomerService;
  /** Outcome events: batches, idempotent by event id, attributed, durable when acknowledged. */
  readonly events: Ingestor;
  /** Wallet, redemptions, rollbacks and expiry. */
  readonly wallet: Wallet;
  /** Liabilities per offer and day. */
  readonly ledger: LedgerService;
  /** Incrementality: treatment against holdout in contribution margin; readout; stop-loss. */
  readonly measure: MeasureService;
  /** Learned policy states per campaign, versioned; decisions read a cached copy. */
  readonly policyStates: PolicyStateSource;
  /** Trains the online learners from the decision log (on a timer, `learnEveryMs`, or on demand). */
  readonly learning: Trainer;
  /** Offline learning on the decision log: train the uplift model, evaluate candidate policies, summarise a state. */
  readonly learningOps: LearningService;
  /** Decides, commits (reservations, wallet entries, log) and returns the decision. */
  decide(request: unknown): Promise<DecisionResponse>;
  /** Decides without committing anything: a dry run for previews and tests. */
  preview(request: unknown): Promise<Decision>;
  getDecision(id: string): Promise<DecisionResponse & { log: unknown }>;
  /** Stores a customer's traits and consent; `actor` defaults to the system. */
  putCustomer(id: string, body: unknown, actor?: Actor): Promise<CustomerRecord>;
  getCustomer(id: string): Promise<CustomerRecord>;
  /** A customer's (a string is always a customer id) or an anonymous visitor's features as rules see them. */
  features(who: string | SubjectRef): Promise<CustomerFeatures>;
  /** Erases a customer's profile, features and personal data; outcomes stay, anonymised. */
  eraseCustomer(id: string, actor?: Actor): Promise<{ erased: boolean }>;
  /** Liabilities per offer and day (runs the expiry sweep first). */
  liabilities(query: { from?: string; to?: string; offerId?: string }): Promise<LiabilityReport>;
  /** Whether the store's writes are failing (disk full, read-only, locked, unreachable), for /health. */
  storeHealth(): StoreHealth;
  /** The catalog snapshot decisions currently read (reloaded when another process changes it). */
  snapshot(): Promise<CatalogSnapshot>;
  close(): Promise<void>;
}

/** The composition root: builds every feature's service over the store and starts the timers. Call `store.migrate()` first. */
export async function createEngine(deps: EngineDeps): Promise<Engine> {
  const config = Object.isFrozen(deps.config) ? (deps.config as Config) : loadConfig(deps.config ?? {}, {});
  // Storage failures leave the store as 503 codes (never a bare driver error), and write outcomes are tracked.
  const { store, health: storeHealth } = watchStore(deps.store);
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const ids = deps.ids ?? randomIds;
  const logger = deps.logger ?? pino({ level: config.logLevel });
  const defaults = decideDefaults(config);
  const tokens = await tokenSigner(store, config, logger);

  const snapshots = snapshotSource(store, config.catalogRefreshMs, deps.policies);
  // Policy state is as fresh as the catalog: both are shared through the store under one bound.
  const policyStates = new PolicyStateSource(store, config.catalogRefreshMs);
  const snapshot = () => snapshots.snapshot();
  const catalog = new CatalogService(store, clock, ids, () => snapshots.invalidate());
  const decisions = new DecisionService({
    port: store,
    snapshots,
    counters: new CounterCache(store, config.counterRefreshMs),
    policyStates,
    tokens,
    clock,
    random,
    ids,
    logger,
    defaults,
    codes: deps.codes ?? newCouponCode,
  });
  const customers = new CustomerService(store, clock, ids, logger);
  const events = new Ingestor({
    store,
    snapshot,
    tokens,
    clock,
    ...(deps.statsFor ? { statsFor: deps.statsFor } : {}),
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
  const ledger = new LedgerService(store, wallet, snapshot, clock, config.pointValue);
  const measure = new MeasureService({
    port: store,
    catalog,
    clock,
    ids,
    logger,
    globalHoldoutPct: config.globalHoldoutPct,
    settings: {
      minCustomersPerArm: config.measureMinCustomersPerArm,
      minDays: config.measureMinDays,
      liftThreshold: config.measureLiftThreshold,
      sequentialPlannedUnits: config.sequentialPlannedUnits,
    },
  });

  const learning = new Trainer({ port: store, states: policyStates, clock, logger, snapshot });
  const learningOps = new LearningService({ port: store, states: policyStates, catalog, clock, snapshot });

  // Breakage is booked by a periodic sweep, and the stop-loss runs on a timer; any process may
  // run either (each expiry is claimed once; the first pause wins).
  const timers = [
    every(config.expirySweepMs, () => wallet.sweep(), logger, 'expiry sweep failed'),
    every(config.stopLossCheckMs, () => measure.stopLoss(STOP_LOSS_ACTOR), logger, 'stop-loss check failed'),
    // Any process may train: the statistics are written with compare-and-set (one round wins).
    every(config.learnEveryMs, () => learning.train(), logger, 'training round failed'),
  ];

  return {
    config,
    logger,
    tokens,
    dialect: store.dialect,
    catalog,
    keys: new ApiKeys(store, ids, config.apiKeyCacheMs, (change) => logger.info(change, 'api key change')),
    decisions,
    customers,
    events,
    wallet,
    ledger,
    measure,
    policyStates,
    learning,
    learningOps,
    decide: (r) => decisions.decide(r),
    preview: (r) => decisions.preview(r),
    getDecision: (id) => decisions.get(id),
    putCustomer: (id, body, actor) => customers.put(id, body, actor),
    getCustomer: (id) => customers.get(id),
    features: (who) => customers.features(who),
    eraseCustomer: (id, actor) => customers.erase(id, actor),
    liabilities: (q) => ledger.liabilities(q),
    snapshot,
    storeHealth,
    close: async () => {
      for (const t of timers) if (t) clearInterval(t);
      await store.close();
    },
  };
}

/** Token keys from the configuration, or one generated secret kept in the database so every process shares it. */
async function tokenSigner(store: Store, config: Config, logger: Logger): Promise<TokenSigner> {
  const keys = config.tokenKeys ? parseTokenKeys(config.tokenKeys) : [{ kid: 'db1', secret: await store.getOrCreateSetting('token_key.db1', newTokenSecret) }];
  // Keys from the environment keep the secret out of the database; one generated earlier is
  // still in it and still lets whoever reads the file forge tokens, if it is listed.
  if (config.tokenKeys && (await store.getSetting('token_key.db1')) !== null) {
    logger.warn('the database still holds a generated token secret (settings token_key.db1): once no live token needs it, delete it (see README, "Secrets on disk")');
  }
  return new TokenSigner(keys);
}

function every(ms: number, job: () => Promise<unknown>, logger: Logger, failure: string): NodeJS.Timeout | null {
  if (ms <= 0) return null;
  return setInterval(() => {
    job().catch((err: unknown) => logger.warn({ err }, failure));
  }, ms).unref();
}
