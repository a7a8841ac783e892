import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import { RE2JS } from 're2js';
import { OfferpilotError } from './errors.js';

/**
 * Eligibility rules are CEL (https://cel.dev): side-effect free, always terminating, and
 * standard, so marketers' rules mean the same here as in other CEL tools.
 *
 * Variables a rule can read (type-checked when the rule is saved: an unknown field, a wrong
 * type or a call with no such overload is INVALID_RULE then, never an error at decision time):
 * - `customer`  { id, traits, features }     profile data: a rule that reads it is *personalized*
 * - `cart`      { subtotal, itemCount, skus, categories, lines: [{ sku, quantity, unitPrice, category }] }
 * - `context`   the request's context (device, geo, session signals, client time)
 * - `channel`, `placement`  strings
 * - `now`       { epochMs, hour, dayOfWeek, date } server time, UTC (dayOfWeek 0 = Sunday)
 */
export const RULE_VARIABLES = ['customer', 'cart', 'context', 'channel', 'placement', 'now'] as const;

type Fields = Record<string, string>;

// The declared shapes. Integers (money in minor units, counts) are CEL `int`, fractions `double`;
// traits and session signals are free-form (`dyn`). A value that may be null (no orders yet,
// an anonymous shopper) is left unset instead, so `has(...)` tells whether it is there.
const FEATURE_FIELDS: Fields = {
  orders: 'int',
  firstOrderAt: 'string',
  lastOrderAt: 'string',
  recencyDays: 'double',
  frequency: 'int',
  monetary: 'int',
  aov: 'int',
  refunded: 'int',
  cohort: 'string',
  couponAffinity: 'double',
  discountDepthPct: 'double',
  impressions30d: 'int',
};
const STRUCTS: Record<string, Fields> = {
  Features: FEATURE_FIELDS,
  Customer: { id: 'string', traits: 'map<string, dyn>', features: 'Features' },
  CartLine: { sku: 'string', quantity: 'int', unitPrice: 'int', category: 'string' },
  Cart: { subtotal: 'int', itemCount: 'int', skus: 'list<string>', categories: 'list<string>', lines: 'list<CartLine>' },
  Geo: { country: 'string', region: 'string', city: 'string' },
  Now: { epochMs: 'int', hour: 'int', dayOfWeek: 'int', date: 'string' },
};
// The decide request's declared context fields; any other top-level key is free-form (dyn).
const CONTEXT_FIELDS: Fields = { device: 'string', geo: 'Geo', time: 'string', session: 'map<string, dyn>' };
const VARIABLE_TYPES: Record<string, string> = { customer: 'Customer', cart: 'Cart', context: 'Context', channel: 'string', placement: 'string', now: 'Now' };

/** The declared fields of each rule variable's type, by CEL type name (for docs and error messages). */
export const RULE_TYPES: Readonly<Record<string, Readonly<Fields>>> = { ...STRUCTS, Context: CONTEXT_FIELDS };

// One class per type: the library maps a value's constructor to its declared fields.
const ctors = new Map<string, new (v: Record<string, unknown>) => object>();
function ctor(name: string): new (v: Record<string, unknown>) => object {
  let C = ctors.get(name);
  if (!C) {
    C = { [name]: class { constructor(v: Record<string, unknown>) { Object.assign(this, v); } } }[name]!;
    ctors.set(name, C);
  }
  return C;
}

// Linear-time regular expressions (RE2 semantics, as the CEL spec prescribes). The library's own
// `matches` runs the pattern on the backtracking JS engine, where `^(a+)+$` on 30 characters
// takes seconds. The NFA simulation costs at most (program size × input length) steps, which
// bounds every call: past MATCH_BUDGET steps a call fails (RULE_ERROR) instead of running long.
// The budget is per evaluation, shared by all of a rule's calls (a `matches` inside a
// comprehension runs once per element).
const MATCH_BUDGET = 200_000;
// Evaluation is synchronous (no async functions are registered), so one counter serves.
let matchBudgetLeft = MATCH_BUDGET;
const MAX_PATTERN_INSTRUCTIONS = 2_000;
const MAX_DYNAMIC_PATTERN_LENGTH = 1_000;

interface Regex { re: RE2JS; cost: number }

function compileRegex(pattern: string): Regex {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (e) {
    throw new Error(`invalid regular expression ${JSON.stringify(pattern)} (RE2 syntax): ${(e as Error).message}`);
  }
  const cost = re.re2Input.prog.numInst();
  if (cost > MAX_PATTERN_INSTRUCTIONS) throw new Error(`regular expression ${JSON.stringify(pattern)} is too complex (${cost} instructions, at most ${MAX_PATTERN_INSTRUCTIONS})`);
  return { re, cost };
}

// Patterns computed at evaluation time (from data, not literals) are compiled once each.
const dynamicRegexes = new Map<string, Regex>();
function dynamicRegex(pattern: string): Regex {
  let r = dynamicRegexes.get(pattern);
  if (!r) {
    if (pattern.length > MAX_DYNAMIC_PATTERN_LENGTH) throw new Error(`matches: pattern longer than ${MAX_DYNAMIC_PATTERN_LENGTH} characters`);
    r = compileRegex(pattern);
    if (dynamicRegexes.size >= 1000) dynamicRegexes.clear();
    dynamicRegexes.set(pattern, r);
  }
  return r;
}

function runMatch(text: unknown, pattern: unknown, literal: Regex | null): boolean {
  if (typeof text !== 'string') throw new Error(`matches: expected a string, got ${text === null ? 'null' : typeof text}`);
  if (typeof pattern !== 'string') throw new Error(`matches: the pattern must be a string, got ${pattern === null ? 'null' : typeof pattern}`);
  const r = literal ?? dynamicRegex(pattern);
  const steps = text.length * r.cost;
  if (steps > matchBudgetLeft) {
    if (steps > MATCH_BUDGET) throw new Error(`matches: input of ${text.length} characters is too long for this pattern (at most ${Math.floor(MATCH_BUDGET / r.cost)})`);
    throw new Error(`matches: the rule's regular expressions exceed ${MATCH_BUDGET} steps on this request`);
  }
  matchBudgetLeft -= steps;
  return r.re.test(text);
}

// The library's macro hooks (checker, evaluator) have no published types.
interface MatchMacro { text: ASTNode; pattern: ASTNode; literal: Regex | null }

function matchesMacro(text: ASTNode, pattern: ASTNode, form: string) {
  return {
    text,
    pattern,
    literal: null,
    typeCheck(chk: any, m: MatchMacro, ctx: unknown) {
      const t = chk.check(m.text, ctx);
      const p = chk.check(m.pattern, ctx);
      const ok = (x: { kind: string; type: string }) => x.kind === 'dyn' || x.type === 'string';
      if (!ok(t) || !ok(p)) throw chk.createError('no_matching_overload', `found no matching overload for '${form.replace('T', t.name).replace('P', p.name)}'`, m.text);
      // A literal pattern is compiled (and refused if RE2 cannot compile it) once, here.
      if (m.pattern.op === 'value' && typeof m.pattern.args === 'string') {
        try {
          m.literal = compileRegex(m.pattern.args);
        } catch (e) {
          throw chk.createError('invalid_regular_expression', (e as Error).message, m.pattern);
        }
      }
      return chk.getType('bool');
    },
    evaluate(ev: any, m: MatchMacro, ctx: unknown) {
      return runMatch(ev.run(m.text, ctx), ev.run(m.pattern, ctx), m.literal);
    },
  };
}

function baseEnvironment(): Environment {
  const env = new Environment({
    unlistedVariablesAreDyn: false,
    limits: { maxAstNodes: 2000, maxDepth: 64, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 16 },
  })
    // Replaces the built-in `string.matches(string)`. The library refuses a second overload with
    // the same receiver, but it expands a macro by name and arity whatever the receiver, so a
    // macro declared on another receiver type takes over every `x.matches(p)` at parse time.
    .registerFunction({
      name: 'matches',
      receiverType: 'bytes',
      returnType: 'bool',
      params: [{ name: 'pattern', type: 'ast' }],
      handler: ({ receiver, args }: { receiver: ASTNode; args: ASTNode[] }) => matchesMacro(receiver, args[0]!, 'T.matches(P)'),
    } as never)
    // CEL's global form, `matches(text, pattern)`.
    .registerFunction({
      name: 'matches',
      returnType: 'bool',
      params: [{ name: 'text', type: 'ast' }, { name: 'pattern', type: 'ast' }],
      handler: ({ args }: { args: ASTNode[] }) => matchesMacro(args[0]!, args[1]!, 'matches(T, P)'),
    } as never);
  for (const [name, fields] of Object.entries(STRUCTS)) env.registerType(name, { ctor: ctor(name), fields });
  for (const [name, type] of Object.entries(VARIABLE_TYPES)) if (name !== 'context') env.registerVariable(name, type);
  return env;
}

const base = baseEnvironment();
function withContext(extra: string[]): Environment {
  const fields: Fields = { ...CONTEXT_FIELDS };
  for (const k of extra) fields[k] = 'dyn';
  return base.clone().registerType('Context', { ctor: ctor('Context'), fields }).registerVariable('context', 'Context');
}
const env = withContext([]);

// The free-form top-level context keys a rule names (`context.abVariant`, `context["x"]`): the
// rule is checked against the declared fields plus these as dyn.
function freeContextKeys(node: unknown, out: Set<string>): Set<string> {
  if (!node || typeof node !== 'object') return out;
  const n = node as { op?: string; args?: unknown };
  if ((n.op === '.' || n.op === '.?' || n.op === '[]' || n.op === '[?]') && Array.isArray(n.args)) {
    const [obj, key] = n.args as [{ op?: string; args?: unknown }, unknown];
    const name = typeof key === 'string' ? key : (key as { op?: string; args?: unknown })?.op === 'value' ? (key as { args: unknown }).args : undefined;
    if (obj?.op === 'id' && obj.args === 'context' && typeof name === 'string' && !(name in CONTEXT_FIELDS)) out.add(name);
  }
  const args = n.args;
  if (Array.isArray(args)) for (const a of args) Array.isArray(a) ? a.forEach((x) => freeContextKeys(x, out)) : freeContextKeys(a, out);
  else if (args && typeof args === 'object') freeContextKeys(args, out);
  return out;
}

// Comprehensions (all, exists, exists_one, map, filter) run their body once per element, and
// nested ones multiply: two levels over a 500-line cart are 250,000 runs (about 0.4 s). Before a
// rule runs, its work is bounded from above by Σ L^depth × (nodes in the body) over its
// comprehensions, L the longest list the rule could meet (in the input or a literal); above
// ITERATION_BUDGET node evaluations (a few milliseconds) the rule is RULE_ERROR on that request
// instead of blocking the event loop.
const ITERATION_BUDGET = 50_000;
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

interface Shape { loops: Array<{ depth: number; nodes: number }>; longestLiteral: number }

function countNodes(node: unknown): number {
  if (!node || typeof node !== 'object') return 0;
  const args = (node as { args?: unknown }).args;
  let n = 'op' in (node as object) ? 1 : 0;
  if (Array.isArray(args)) for (const a of args) n += Array.isArray(a) ? a.reduce((m: number, x) => m + countNodes(x), 0) : countNodes(a);
  else if (args && typeof args === 'object') n += countNodes(args);
  return n;
}

function comprehensionShape(node: unknown, depth: number, out: Shape): Shape {
  if (!node || typeof node !== 'object') return out;
  const n = node as { op?: string; args?: unknown };
  if (n.op === 'list' && Array.isArray(n.args)) out.longestLiteral = Math.max(out.longestLiteral, n.args.length);
  if (n.op === 'rcall' && Array.isArray(n.args) && COMPREHENSIONS.has(n.args[0] as string) && Array.isArray(n.args[2]) && (n.args[2] as Array<{ op?: string }>)[0]?.op === 'id') {
    const body = n.args[2] as unknown[];
    out.loops.push({ depth: depth + 1, nodes: Math.max(1, body.reduce((m: number, a) => m + countNodes(a), 0)) });
    comprehensionShape(n.args[1], depth, out);
    for (const a of body) comprehensionShape(a, depth + 1, out);
    return out;
  }
  const args = n.args;
  if (Array.isArray(args)) for (const a of args) Array.isArray(a) ? a.forEach((x) => comprehensionShape(x, depth, out)) : comprehensionShape(a, depth, out);
  else if (args && typeof args === 'object') comprehensionShape(args, depth, out);
  return out;
}

function longestList(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((m: number, x) => Math.max(m, longestList(x)), v.length);
  if (v && typeof v === 'object') return Object.values(v as Record<string, unknown>).reduce((m: number, x) => Math.max(m, longestList(x)), 0);
  return 0;
}

const longestLists = new WeakMap<RuleInput, number>();
function longestInputList(input: RuleInput): number {
  let l = longestLists.get(input);
  if (l === undefined) {
    const { cart } = input;
    l = Math.max(cart.lines.length, cart.skus.length, cart.categories.length, longestList(input.customer.traits), longestList(input.context));
    longestLists.set(input, l);
  }
  return l;
}

const int = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : v);
const opt = (v: unknown) => (v === null ? undefined : v);
const Features = ctor('Features');
const Customer = ctor('Customer');
const CartLine = ctor('CartLine');
const Cart = ctor('Cart');
const Geo = ctor('Geo');
const Now = ctor('Now');
const Context = ctor('Context');

function typed(fields: Fields, raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in fields) {
    const v = opt(raw[k]);
    if (v !== undefined) out[k] = fields[k] === 'int' ? int(v) : v;
  }
  return out;
}

// CEL values are built once per input (a decision evaluates every distinct rule on one input).
const celInputs = new WeakMap<RuleInput, Record<string, unknown>>();
function celInput(input: RuleInput): Record<string, unknown> {
  let v = celInputs.get(input);
  if (v) return v;
  const { customer, cart, context, now } = input;
  const geo = context['geo'];
  v = {
    customer: new Customer({ id: opt(customer.id) ?? undefined, traits: customer.traits, features: new Features(typed(FEATURE_FIELDS, customer.features)) }),
    cart: new Cart({
      subtotal: int(cart.subtotal),
      itemCount: int(cart.itemCount),
      skus: cart.skus,
      categories: cart.categories,
      lines: cart.lines.map((l) => new CartLine(typed(STRUCTS['CartLine']!, l as Record<string, unknown>))),
    }),
    context: new Context({ ...context, ...(geo && typeof geo === 'object' ? { geo: new Geo(geo as Record<string, unknown>) } : {}) }),
    channel: input.channel,
    placement: input.placement,
    now: new Now(typed(STRUCTS['Now']!, now)),
  };
  celInputs.set(input, v);
  return v;
}

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

// "No such key: total" says little; name the type and what it does have.
function explain(error: unknown): string {
  const e = error as { message?: string; code?: string; node?: { op?: string; args?: unknown } } | undefined;
  const msg = e?.message ?? 'type error';
  if (e?.code !== 'no_such_key' || e.node?.op !== '.' || !Array.isArray(e.node.args)) return msg;
  const [obj, key] = e.node.args as [{ checkedType?: { name?: string } }, string];
  const typeName = obj?.checkedType?.name;
  const fields = typeName ? RULE_TYPES[typeName] : undefined;
  if (!fields) return msg;
  const [first, ...rest] = msg.split('\n');
  const known = Object.entries(fields).map(([k, t]) => `${k} (${t})`).join(', ');
  return [`${first} (${typeName} has no field '${key}'; its fields: ${known})`, ...rest].join('\n');
}

function compileUncached(source: string, path: string): CompiledRule {
  let parsed;
  try {
    parsed = env.parse(source);
    const extra = freeContextKeys(parsed.ast, new Set());
    if (extra.size > 0) parsed = withContext([...extra]).parse(source);
  } catch (e) {
    throw new OfferpilotError('INVALID_RULE', `Eligibility rule does not parse: ${firstLine((e as Error).message)}`, [
      { path, message: (e as Error).message },
    ]);
  }
  const checked = parsed.check();
  if (!checked.valid) {
    const msg = explain(checked.error);
    throw new OfferpilotError('INVALID_RULE', `Eligibility rule is not valid: ${firstLine(msg)}`, [{ path, message: msg }]);
  }
  if (checked.type !== 'bool' && checked.type !== 'dyn') {
    throw new OfferpilotError('INVALID_RULE', `Eligibility rule must be a boolean expression, not ${checked.type}`, [
      { path, message: `evaluates to ${checked.type}; compare it, e.g. "cart.subtotal >= 5000"` },
    ]);
  }
  const fn = parsed;
  const shape = comprehensionShape(parsed.ast, 0, { loops: [], longestLiteral: 0 });
  return {
    source,
    personalized: readsCustomer(parsed.ast),
    // A superset on purpose: any profile rule that mentions "features" gets them.
    readsFeatures: readsCustomer(parsed.ast) && /\bfeatures\b/.test(source),
    evaluate(input) {
      if (shape.loops.length > 0) {
        const l = Math.max(longestInputList(input), shape.longestLiteral);
        const bound = shape.loops.reduce((sum, { depth, nodes }) => sum + l ** depth * nodes, 0);
        if (bound > ITERATION_BUDGET) return { ok: false, error: `the rule's comprehensions could take ${bound} steps over lists of up to ${l} elements on this request (at most ${ITERATION_BUDGET})` };
      }
      matchBudgetLeft = MATCH_BUDGET;
      try {
        const v = fn(celInput(input));
        if (typeof v !== 'boolean') return { ok: false, error: `rule returned ${typeof v}, not a boolean` };
        return { ok: true, value: v };
      } catch (e) {
        return { ok: false, error: firstLine((e as Error).message) };
      }
    },
  };
}
