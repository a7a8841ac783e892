import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import { OfferpilotError } from '../errors/index.js';

/**
 * Eligibility rules are CEL (https://cel.dev): side-effect free, always terminating, and
 * standard, so marketers' rules mean the same here as in other CEL tools.
 *
 * Variables a rule can read:
 * - `customer`  { id, traits, features }     profile data: a rule that reads it is *personalized*
 * - `cart`      { subtotal, itemCount, skus, categories, lines }
 * - `context`   the request's context (device, geo, session signals, client time)
 * - `channel`, `placement`  strings
 * - `now`       { epochMs, hour, dayOfWeek, date } server time, UTC (dayOfWeek 0 = Sunday)
 */
export const RULE_VARIABLES = ['customer', 'cart', 'context', 'channel', 'placement', 'now'] as const;

const env = new Environment({
  unlistedVariablesAreDyn: false,
  limits: { maxAstNodes: 2000, maxDepth: 64, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 16 },
})
  .registerVariable('customer', 'map')
  .registerVariable('cart', 'map')
  .registerVariable('context', 'map')
  .registerVariable('channel', 'string')
  .registerVariable('placement', 'string')
  .registerVariable('now', 'map');

/** The values a rule is evaluated against. */
export interface RuleInput {
  customer: { id: string | null; traits: Record<string, unknown>; features: Record<string, unknown> };
  cart: { subtotal: number; itemCount: number; skus: string[]; categories: string[]; lines: unknown[] };
  context: Record<string, unknown>;
  channel: string;
  placement: string;
  now: { epochMs: number; hour: number; dayOfWeek: number; date: string };
}

/** A rule compiled once per offer version. */
export interface CompiledRule {
  source: string;
  /** True when the rule reads the customer's profile, so it needs personalization consent. */
  personalized: boolean;
  /** True when the rule may read customer.features (decisions then load them; otherwise they skip that read). */
  readsFeatures: boolean;
  /** Evaluates; returns an error message instead of throwing when the data does not fit. */
  evaluate(input: RuleInput): { ok: true; value: boolean } | { ok: false; error: string };
}

function readsCustomer(node: unknown): boolean {
  if (!node || typeof node !== 'object') return false;
  const n = node as ASTNode;
  if (n.op === 'id') return n.args === 'customer';
  const args = (n as { args: unknown }).args;
  if (Array.isArray(args)) return args.some((a) => (Array.isArray(a) ? a.some(readsCustomer) : readsCustomer(a)));
  return readsCustomer(args);
}

function firstLine(msg: string): string {
  return msg.split('\n')[0] ?? msg;
}

// Offers often share a rule text (a segment, a threshold): one compiled rule per text lets a
// decision evaluate each distinct rule once.
const compiled = new Map<string, CompiledRule>();

/** Compiles and type-checks a CEL rule (cached by text); a broken rule throws INVALID_RULE naming `path`. */
export function compileRule(source: string, path = 'eligibility'): CompiledRule {
  const hit = compiled.get(source);
  if (hit) return hit;
  const rule = compileUncached(source, path);
  if (compiled.size > 50_000) compiled.clear();
  compiled.set(source, rule);
  return rule;
}

function compileUncached(source: string, path: string): CompiledRule {
  let parsed;
  try {
    parsed = env.parse(source);
  } catch (e) {
    throw new OfferpilotError('INVALID_RULE', `Eligibility rule does not parse: ${firstLine((e as Error).message)}`, [
      { path, message: (e as Error).message },
    ]);
  }
  const checked = parsed.check();
  if (!checked.valid) {
    const msg = checked.error?.message ?? 'type error';
    throw new OfferpilotError('INVALID_RULE', `Eligibility rule is not valid: ${firstLine(msg)}`, [{ path, message: msg }]);
  }
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new OfferpilotError('INVALID_RULE', `Eligibility rule must be a boolean expression, not ${checked.type}`, [
      { path, message: `evaluates to ${checked.type}; compare it, e.g. "cart.subtotal >= 5000"` },
    ]);
  }
  const fn = parsed;
  return {
    source,
    personalized: readsCustomer(parsed.ast),
    // A superset on purpose: any profile rule that mentions "features" gets them.
    readsFeatures: readsCustomer(parsed.ast) && /\bfeatures\b/.test(source),
    evaluate(input) {
      try {
        const v = fn(input as unknown as Record<string, unknown>);
        if (typeof v !== 'boolean') return { ok: false, error: `rule returned ${typeof v}, not a boolean` };
        return { ok: true, value: v };
      } catch (e) {
        return { ok: false, error: firstLine((e as Error).message) };
      }
    },
  };
}
