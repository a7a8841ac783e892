import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { importCatalog } from '../src/catalog/import.js';
import { compileRule, OfferpilotError } from '../src/index.js';
import type { RuleInput } from '../src/core/rules.js';
import { BACKENDS, createTestEngine } from './helpers/backends.js';
import { createApiHarness, expectError, json } from './helpers/http.js';

// Generous for a busy two-core machine: the backtracking engine took seconds on these.
const BOUND_MS = 50;

/**
 * Runs `fn` up to three times and keeps the fastest run (stopping early once one is within
 * BOUND_MS): a run the scheduler preempts on a loaded machine is not the rule's cost, while a
 * rule that blocks (seconds on the old engine) is slow every time.
 */
async function fastest<T>(fn: () => T | Promise<T>): Promise<{ ms: number; value: T }> {
  let best: { ms: number; value: T } | null = null;
  for (let i = 0; i < 3 && !(best && best.ms < BOUND_MS); i++) {
    const t0 = performance.now();
    const value = await fn();
    const ms = performance.now() - t0;
    if (!best || ms < best.ms) best = { ms, value };
  }
  return best!;
}
const root = new URL('../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8');

function collectRules(v: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(v)) v.forEach((x) => collectRules(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'eligibility' && typeof x === 'string') out.add(x);
      else collectRules(x, out);
    }
  }
  return out;
}

// Rules the tests and the benchmark fixtures write inline (eligibility: '…', expression: '…',
// and the rule lists of the property tests), minus the ones written to be refused.
function inlineRules(): Set<string> {
  const out = new Set<string>();
  const files = [...readdirSync(new URL('test/', root)).filter((f) => f.endsWith('.ts')).map((f) => `test/${f}`), 'bench/fixtures.ts'];
  const literal = /(?:eligibility|expression|_RULE|_RULES)\b[^'"\n]*?[:=(\[]\s*((?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")(?:\s*,\s*(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"))*)/g;
  for (const f of files) {
    if (f === 'test/rules.test.ts') continue;
    for (const m of read(f).matchAll(literal)) {
      for (const s of m[1]!.matchAll(/'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)"/g)) {
        const text = s[1] !== undefined ? s[1].replace(/\\'/g, "'") : s[2]!.replace(/\\"/g, '"');
        if (/^(cart|customer|context|channel|now|has\(|!has|")/.test(text)) out.add(text);
      }
    }
  }
  for (const broken of ['cart.subtotal >=', 'cart.subtotal + 1', 'shopper.vip == true']) out.delete(broken);
  return out;
}

function contractRules(): string[] {
  const rules = new Set<string>();
  collectRules(JSON.parse(read('examples/demo-catalog.json')), rules);
  collectRules(JSON.parse(read('test/golden/cases.json')), rules);
  for (const f of readdirSync(new URL('scenarios/', root)).filter((x) => x.endsWith('.yaml'))) collectRules(parseYaml(read(`scenarios/${f}`)), rules);
  for (const r of inlineRules()) rules.add(r);
  return [...rules];
}

function refusal(source: string): string {
  try {
    compileRule(source);
  } catch (e) {
    expect(e).toBeInstanceOf(OfferpilotError);
    expect((e as OfferpilotError).code).toBe('INVALID_RULE');
    return (e as OfferpilotError).message;
  }
  throw new Error(`rule accepted: ${source}`);
}

const input = (traits: Record<string, unknown> = {}): RuleInput => ({
  customer: { id: 'c1', traits, features: { orders: 2, cohort: 'lapsed', recencyDays: null, monetary: 4500, couponAffinity: 0.5 } },
  cart: { subtotal: 6000, itemCount: 3, skus: ['TEE', 'CAP'], categories: ['tops'], lines: [{ sku: 'TEE', quantity: 2, unitPrice: 2500, category: 'tops' }, { sku: 'CAP', quantity: 1, unitPrice: 1000, category: '' }] },
  context: { device: 'mobile', geo: { country: 'DE' }, session: { pageviews: 5 }, abVariant: 'b' },
  channel: 'web',
  placement: 'cart',
  now: { epochMs: Date.UTC(2026, 10, 23, 19), hour: 19, dayOfWeek: 1, date: '2026-11-23' },
});

describe('eligibility rules are type-checked against the declared variables', () => {
  it('every rule in the demo catalog, the golden cases, the scenarios and the tests still compiles', () => {
    const rules = contractRules();
    // The collection itself must find them: the shipped files alone hold more than ten.
    expect(rules.length).toBeGreaterThan(15);
    for (const r of rules) expect(() => compileRule(r), r).not.toThrow();
  });

  it('refuses unknown fields, wrong types and missing overloads, saying what is wrong', () => {
    expect(refusal('customer.trait.orderCount == 0')).toMatch(/trait.*Customer has no field 'trait'.*traits/);
    expect(refusal('cart.total > 5000')).toMatch(/Cart has no field 'total'.*subtotal \(int\)/);
    expect(refusal('cart.subtotal > "5000"')).toMatch(/int > string/);
    expect(refusal('customer.features.recency > "x"')).toMatch(/Features has no field 'recency'.*recencyDays \(double\)/);
    expect(refusal('customer.features.recencyDays > "x"')).toMatch(/double > string/);
    expect(refusal('customer.features.cohort > 3')).toMatch(/string > int/);
    expect(refusal('cart.lines.exists(l, l.skuu == "TEE")')).toMatch(/CartLine has no field 'skuu'/);
    expect(refusal('cart.skus.exists(s, s > 1)')).toMatch(/string > int/);
    expect(refusal('context.geo.contry == "DE"')).toMatch(/Geo has no field 'contry'/);
    expect(refusal('context.device == 1')).toMatch(/string == int/);
    expect(refusal('now.hours >= 18')).toMatch(/Now has no field 'hours'/);
    expect(refusal('channel.size() > "1"')).toMatch(/int > string/);
    expect(refusal('cart.subtotal.matches("^1")')).toMatch(/no matching overload for 'int.matches\(string\)'/);
  });

  it('typed rules evaluate to the right values (ints, lists of lines, context, now, free-form keys)', () => {
    const cases: Array<[string, boolean]> = [
      ['cart.subtotal >= 5000 && cart.itemCount == 3', true],
      ['cart.subtotal > 5999.5', true],
      ['cart.lines.exists(l, l.sku == "TEE" && l.quantity * l.unitPrice >= 5000)', true],
      ['cart.lines.all(l, l.category == "tops")', false],
      ['"CAP" in cart.skus && "tops" in cart.categories', true],
      ['customer.features.orders >= 1 && customer.features.monetary > 4000 && customer.features.couponAffinity >= 0.5', true],
      ["customer.features.cohort == 'lapsed'", true],
      // Null features are unset: has() says so.
      ['has(customer.features.recencyDays)', false],
      ['has(customer.traits.vip) && customer.traits.vip', true],
      ['context.device == "mobile" && context.geo.country == "DE" && context.session.pageviews > 3', true],
      ['context.abVariant == "b"', true],
      ['now.hour >= 18 && now.dayOfWeek == 1 && now.date == "2026-11-23"', true],
      ['customer.id == "c1" && channel == "web" && placement == "cart"', true],
    ];
    for (const [rule, want] of cases) expect(compileRule(rule).evaluate(input({ vip: true })), rule).toEqual({ ok: true, value: want });
  });

  it('matches is RE2: refuses at save what RE2 cannot compile, in both the method and the global form', () => {
    expect(refusal('customer.traits.name.matches("(a")')).toMatch(/invalid regular expression/);
    expect(refusal('matches(customer.traits.name, "(?<=a)b")')).toMatch(/invalid regular expression.*RE2/);
    expect(refusal('customer.traits.name.matches("(\\\\w)\\\\1")')).toMatch(/invalid regular expression/);
    const ok = compileRule('customer.traits.name.matches("^A[a-z]+$") && matches(customer.traits.name, "li")');
    expect(ok.evaluate(input({ name: 'Alice' }))).toEqual({ ok: true, value: true });
    expect(ok.evaluate(input({ name: 'alice' }))).toEqual({ ok: true, value: false });
    // A pattern from data is compiled at evaluation; a bad one is an evaluation error, not a crash.
    const dyn = compileRule('customer.traits.name.matches(customer.traits.pattern)');
    expect(dyn.evaluate(input({ name: 'Alice', pattern: 'li' }))).toEqual({ ok: true, value: true });
    expect(dyn.evaluate(input({ name: 'Alice', pattern: '(' }))).toMatchObject({ ok: false, error: expect.stringMatching(/invalid regular expression/) });
  });

  it('evaluation is bounded: nested comprehensions over long lists and regex work across a rule are RULE_ERROR, not a stall', async () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => ({ sku: `S${i}`, quantity: 1, unitPrice: 100, category: 'c' }));
    const withCart = (n: number, traits: Record<string, unknown> = {}): RuleInput => ({ ...input(traits), cart: { subtotal: 100 * n, itemCount: n, skus: lines(n).map((l) => l.sku), categories: ['c'], lines: lines(n) } });
    const nested = compileRule('cart.lines.all(a, cart.lines.all(b, a.quantity + b.quantity > 0))');
    expect(nested.evaluate(withCart(20))).toEqual({ ok: true, value: true });
    // 500 × 500 body runs took 0.4 s; refused before it runs.
    const big = withCart(500);
    let r = await fastest(() => nested.evaluate(big));
    expect(r.value).toMatchObject({ ok: false, error: expect.stringMatching(/comprehensions could take \d+ steps/) });
    expect(r.ms).toBeLessThan(BOUND_MS);
    const longTrait = compileRule('customer.traits.xs.exists(x, customer.traits.xs.exists(y, x + y < 0))');
    const xs = input({ xs: Array.from({ length: 20_000 }, (_, i) => i) });
    r = await fastest(() => longTrait.evaluate(xs));
    expect(r.value).toMatchObject({ ok: false });
    expect(r.ms).toBeLessThan(BOUND_MS);
    // Each call within its own bound, but 50 of them exceed the rule's shared regex budget.
    const perLine = compileRule('cart.lines.all(l, customer.traits.name.matches("^(a+)+$"))');
    expect(perLine.evaluate(withCart(2, { name: 'a'.repeat(5_000) }))).toEqual({ ok: true, value: true });
    const fifty = withCart(50, { name: 'a'.repeat(5_000) });
    r = await fastest(() => perLine.evaluate(fifty));
    expect(r.value).toMatchObject({ ok: false, error: expect.stringMatching(/regular expressions exceed/) });
    expect(r.ms).toBeLessThan(BOUND_MS);
  });
});

// Each pattern backtracks catastrophically on the JS engine (seconds on 30 characters).
const CATASTROPHIC = ['^(a+)+$', '(a|aa)+$', '(a*)*b', '(x+x+)+y', '^(a|a?)+$', '^([a-z]+\\s?)*$', '(.*a){12}'];
// Whether each pattern matches 'a'×30 + '!', 'x'×30 and 'a'×30.
const MATCHES_30: boolean[][] = [[false, false, true], [false, false, true], [false, false, false], [false, false, false], [false, false, true], [false, true, true], [true, false, true]];
const adversarial = (n: number) => ['a'.repeat(n) + '!', 'x'.repeat(n), 'a'.repeat(n)];

for (const backend of BACKENDS) {
  describe(`eligibility rules at save and at decision time [${backend}]`, () => {
    it('a rule that cannot evaluate is a 400 INVALID_RULE at /v1/rules/check, on create, on PUT and on import', async () => {
      const h = await createApiHarness(backend);
      try {
        const offer = (eligibility: string) => ({ name: 'Ten', type: 'percent_off', value: 10, placements: ['cart'], eligibility });
        expect((await h.req('POST', '/v1/offers', { id: 'ofr_ok', ...offer('cart.subtotal >= 100') })).statusCode).toBe(201);
        for (const bad of ['customer.trait.orderCount == 0', 'cart.total > 5000', 'cart.subtotal > "5000"', 'customer.features.recencyDays > "x"', 'customer.traits.name.matches("(a")']) {
          const check = expectError(await h.req('POST', '/v1/rules/check', { expression: bad }), 400, 'INVALID_RULE', 'expression');
          expect(check.error.message, bad).toMatch(/not valid/);
          expectError(await h.req('POST', '/v1/offers', offer(bad)), 400, 'INVALID_RULE', 'eligibility');
          expectError(await h.req('PUT', '/v1/offers/ofr_ok', offer(bad)), 400, 'INVALID_RULE', 'eligibility');
          const imp = await h.req('POST', '/v1/catalog/import', { offers: [{ id: 'ofr_imp', ...offer(bad) }] });
          expect(imp.statusCode, imp.body).toBe(400);
          expect(json(imp).error.code).toBe('INVALID_RULE');
        }
        expect(json(await h.req('POST', '/v1/rules/check', { expression: 'cart.lines.exists(l, l.quantity > 1)' }))).toEqual({ valid: true, personalized: false });
        // Nothing refused was stored.
        expect(json(await h.req('GET', '/v1/offers/ofr_ok')).version).toBe(1);
        expect((await h.req('GET', '/v1/offers/ofr_imp')).statusCode).toBe(404);
      } finally {
        await h.close();
      }
    });

    it('typed rules decide as written: no RULE_ERROR for rules over cart lines, context, now and features', async () => {
      const t = await createTestEngine(backend);
      try {
        const rules = ['cart.lines.exists(l, l.sku == "P" && l.quantity >= 2)', 'context.abVariant == "b" && context.geo.country == "DE"', 'now.hour == 12 && cart.subtotal >= 20000', "customer.features.cohort == 'first_time' && customer.features.orders == 0"];
        await importCatalog(t.engine.catalog, {
          products: [{ sku: 'P', price: 10000, unitCost: 4000, fulfilmentCost: 500 }],
          offers: rules.map((eligibility, i) => ({ id: `ofr_r${i}`, status: 'live', name: `R${i}`, type: 'content', eligibility })),
          campaigns: [{ id: 'cmp_r', status: 'live', name: 'R', placements: ['cart'], offers: rules.map((_, i) => `ofr_r${i}`), holdoutPct: 0, maxOffers: 4 }],
        });
        const d = await t.engine.preview({ customerId: 'c1', placement: 'cart', channel: 'web', consent: { personalization: true }, context: { geo: { country: 'DE' }, abVariant: 'b' }, cart: { lines: [{ sku: 'P', quantity: 2, unitPrice: 10000 }] } });
        for (const c of d.candidates) expect(c.reasons.map((r) => r.code), c.offerId).not.toContain('RULE_ERROR');
        expect(d.candidates.filter((c) => c.reasons.some((r) => r.code === 'RULE_FAILED'))).toEqual([]);
      } finally {
        await t.close();
      }
    });

    it('catastrophic patterns on 30- and 10,000-character inputs: every decision takes milliseconds', async () => {
      const t = await createTestEngine(backend);
      try {
        await importCatalog(t.engine.catalog, {
          products: [{ sku: 'P', price: 10000, unitCost: 4000, fulfilmentCost: 500 }],
          offers: CATASTROPHIC.map((p, i) => ({ id: `ofr_re${i}`, status: 'live', name: `RE${i}`, type: 'content', eligibility: `customer.traits.name.matches(${JSON.stringify(p)})` })),
          campaigns: CATASTROPHIC.map((_, i) => ({ id: `cmp_re${i}`, status: 'live', name: `RE${i}`, placements: ['cart'], offers: [`ofr_re${i}`], holdoutPct: 0 })),
        });
        const decide = (i: number, name: string) =>
          t.engine.preview({ customerId: 'c1', campaignId: `cmp_re${i}`, placement: 'cart', channel: 'web', consent: { personalization: true }, traits: { name } });
        for (let i = 0; i < CATASTROPHIC.length; i++) await decide(i, 'warm up'); // loads the catalog and the code paths
        let maxRule = 0;
        let maxDecide = 0;
        for (const n of [30, 10_000]) {
          for (let i = 0; i < CATASTROPHIC.length; i++) {
            const rule = compileRule(`customer.traits.name.matches(${JSON.stringify(CATASTROPHIC[i])})`);
            for (const [j, name] of adversarial(n).entries()) {
              const ruleInput = input({ name });
              const { ms: ruleMs, value: r } = await fastest(() => rule.evaluate(ruleInput));
              const { ms: decideMs, value: d } = await fastest(() => decide(i, name));
              const at = `${CATASTROPHIC[i]} on ${name.slice(0, 3)}… (${name.length} chars)`;
              expect(ruleMs, at).toBeLessThan(BOUND_MS);
              expect(decideMs, at).toBeLessThan(BOUND_MS * 2);
              maxRule = Math.max(maxRule, ruleMs);
              maxDecide = Math.max(maxDecide, decideMs);
              const codes = d.candidates[0]!.reasons.map((x) => x.code);
              // Short inputs are really matched; a long input may exceed a pattern's budget, which is RULE_ERROR (never eligible), not a stall.
              if (n === 30) expect(r, at).toEqual({ ok: true, value: MATCHES_30[i]![j] });
              if (r.ok && r.value) expect(codes, at).not.toContain('RULE_FAILED');
              else expect(codes.some((c) => c === 'RULE_FAILED' || c === 'RULE_ERROR'), at).toBe(true);
            }
          }
        }
        console.log(`[${backend}] catastrophic patterns: max rule evaluation ${maxRule.toFixed(2)} ms, max preview decision ${maxDecide.toFixed(2)} ms`);
      } finally {
        await t.close();
      }
    });

    it('/health answers promptly while decides with catastrophic patterns run over HTTP', async () => {
      const h = await createApiHarness(backend);
      try {
        await importCatalog(h.t.engine.catalog, {
          offers: [{ id: 'ofr_re', status: 'live', name: 'RE', type: 'content', eligibility: 'customer.traits.name.matches("^(a+)+$") || customer.traits.name.matches("(a|aa)+$")' }],
          campaigns: [{ id: 'cmp_re', status: 'live', name: 'RE', placements: ['cart'], offers: ['ofr_re'], holdoutPct: 0 }],
        });
        await h.app.listen({ port: 0, host: '127.0.0.1' });
        const base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
        const headers = { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' };
        const decideOnce = (k: number) =>
          fetch(`${base}/v1/decide`, { method: 'POST', headers, body: JSON.stringify({ customerId: `c${k}`, placement: 'cart', channel: 'web', consent: { personalization: true }, traits: { name: 'a'.repeat(29 + (k % 2)) + '!' } }) }).then((r) => r.status);
        for (let k = 0; k < 4; k++) await decideOnce(100 + k); // warms the code paths up
        let running = true;
        const decides = (async () => {
          const statuses: number[] = [];
          for (let k = 0; k < 24; k += 4) statuses.push(...(await Promise.all([0, 1, 2, 3].map((j) => decideOnce(k + j)))));
          running = false;
          return statuses;
        })();
        const healthMs: number[] = [];
        while (running) {
          const t0 = performance.now();
          const r = await fetch(`${base}/health`);
          expect(r.status).toBe(200);
          healthMs.push(performance.now() - t0);
        }
        expect(new Set(await decides)).toEqual(new Set([200]));
        expect(healthMs.length).toBeGreaterThan(0);
        const max = Math.max(...healthMs);
        console.log(`[${backend}] /health during catastrophic decides: ${healthMs.length} probes, max ${max.toFixed(1)} ms (${healthMs.map((x) => x.toFixed(0)).join(" ")})`);
        // The JS engine blocked the loop 5 s per such decide; RE2 takes a few ms. The bound
        // leaves room for the decides' own work on a busy two-core machine.
        expect(max).toBeLessThan(1000);
      } finally {
        await h.close();
      }
    });
  });
}
