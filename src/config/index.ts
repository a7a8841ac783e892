import type { DecideDefaults } from '../core/decide.js';
import { z } from 'zod';
import { OfferpilotError } from '../core/errors.js';
import { parseTokenKeys } from '../tokens/index.js';

/** Whether a token-key list parses (the secrets never go into an error message). */
const validTokenKeys = (v: string) => {
  try {
    return parseTokenKeys(v).length > 0;
  } catch {
    return false;
  }
};

const int = (d: number, min = 0) => z.coerce.number().int().min(min).default(d);

/**
 * Every setting, its default, and its env var (OFFERPILOT_<NAME in upper snake case>).
 * Validated once at boot and frozen.
 */
export const ConfigSchema = z.object({
  db: z.string().min(1).default('data/offerpilot.db').describe('SQLite file path, or postgres://… URL'),
  host: z.string().default('127.0.0.1'),
  port: int(8080).pipe(z.number().max(65535)),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  tokenKeys: z
    .string()
    .optional()
    // Checked here, at boot, so a malformed value is a CONFIG_INVALID naming the variable rather than a crash in the engine.
    .refine((v) => v === undefined || validTokenKeys(v), 'expected "kid:secret,kid2:secret2" (each key a non-empty kid, a colon and a non-empty secret)')
    .describe('"kid:secret,kid2:secret2"; first signs. Default: a key generated once and kept in the database'),
  catalogRefreshMs: int(1000).describe('How often a process checks for catalog changes made by other processes'),
  apiKeyCacheMs: int(1000).describe('How long a process trusts its cached answer for an API key: a key revoked elsewhere (CLI, another process) is refused within this bound'),
  counterRefreshMs: int(250).describe('How stale the guardrail counter view may get (commit always re-checks)'),
  pgPoolSize: int(10, 1),
  sqliteWriterThread: z
    .enum(['true', 'false'])
    .or(z.boolean())
    .transform((v) => v === true || v === 'true')
    .default(true)
    .describe('SQLite: run decision, event and redemption writes on a worker thread (false: on the request thread)'),
  accessLog: z
    .enum(['true', 'false'])
    .or(z.boolean())
    .transform((v) => v === true || v === 'true')
    .default(true)
    .describe('Log one line per HTTP request at info (method, path, status, ms, request id; never credentials)'),
  bodyLimit: int(1_048_576, 1024),
  rateLimitWindowMs: int(60_000, 1000).describe('Window of the redemption and lookup rate limits (per process)'),
  rateLimitRedeemPerCustomer: int(120).describe('Redemption and quote requests per customer per window (0: no limit)'),
  rateLimitRedeemPerKey: int(60_000).describe('Redemption and quote requests per API key per window (0: no limit)'),
  rateLimitFailedLookupsPerCustomer: int(10).describe('Unknown coupon codes or tokens (or someone else\'s) per customer per window before 429 (0: no limit)'),
  rateLimitFailedLookupsPerKey: int(1000).describe('Failed code or token lookups per API key per window, across customers (0: no limit)'),
  marginFloorPct: z.coerce.number().min(0).max(100).default(0).describe('Default margin floor when neither offer nor campaign sets one'),
  shippingCost: int(500).describe('Default cost of free shipping, minor units'),
  pointValue: z.coerce.number().min(0).default(1).describe('Default cost of one loyalty point, minor units'),
  pointsPerMajorUnit: z.coerce.number().min(0).default(1),
  merchantFeeBpsPerMonth: int(50),
  ingestMaxPending: int(200_000, 1).describe('Events accepted but not yet durable before new batches get 503'),
  ingestConcurrency: int(4, 1).describe('PostgreSQL: event batches written at once; the rest queue (SQLite queues them at its one writer)'),
  globalHoldoutPct: z.coerce.number().min(0).max(50).default(0).describe('Program-level holdout: this share of customers gets no offer from any campaign (same value in every process)'),
  measureMinCustomersPerArm: int(1000, 1).describe('Customers per arm before an incrementality report gives a verdict (and stop-loss may act)'),
  measureMinDays: z.coerce.number().min(0).default(14).describe('Days of data before a verdict'),
  measureLiftThreshold: z.coerce.number().min(0).default(0.08).describe('Readout bar: relative lift in CM per session in each of two consecutive 30-day windows'),
  sequentialPlannedUnits: int(10_000, 1).describe('Always-valid intervals are tightest at this many customers'),
  stopLossCheckMs: int(3_600_000).describe('How often live campaigns are checked for stop-loss (0: only on demand)'),
  learnEveryMs: int(5_000).describe('How often this process trains the online learners (contextual, thompson) from the decision log (0: only on demand, `offerpilot train`)'),
  expirySweepMs: int(60_000).describe('How often expired, unredeemed offers are moved to breakage (0: only on demand)'),
});
export type Config = Readonly<z.output<typeof ConfigSchema>>;

const envName = (k: string) => `OFFERPILOT_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

/** Builds the frozen config from defaults, then env vars, then explicit overrides (CLI flags). */
export function loadConfig(overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const fromEnv: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const v = env[envName(key)];
    if (v !== undefined && v !== '') fromEnv[key] = v;
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const r = ConfigSchema.safeParse({ ...fromEnv, ...defined });
  if (!r.success) {
    const details = r.error.issues.map((i) => ({ path: `${String(i.path[0])} (${envName(String(i.path[0]))})`, message: i.message }));
    throw new OfferpilotError('CONFIG_INVALID', `Invalid configuration: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details);
  }
  return Object.freeze(r.data);
}

/** The env var that sets a config key. */
export { envName };

/** The decision defaults (margin floor, shipping, points, financing fee, program holdout) of a configuration. */
export function decideDefaults(config: Config): DecideDefaults {
  return {
    marginFloorPct: config.marginFloorPct,
    shippingCost: config.shippingCost,
    pointValue: config.pointValue,
    pointsPerMajorUnit: config.pointsPerMajorUnit,
    merchantFeeBpsPerMonth: config.merchantFeeBpsPerMonth,
    globalHoldoutPct: config.globalHoldoutPct,
  };
}
