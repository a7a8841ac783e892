import type { Basket } from '../economics.js';
import type { Product } from '../catalog.js';
import type { RuleInput } from '../rules.js';
import type { SparseX } from './linear.js';

/**
 * What the learners see of a request, as tokens: every feature is a bucket (a one-hot), so one
 * linear model per action learns an additive effect per bucket and per crossed pair (cohort ×
 * placement, cohort × cart size…) without assuming any shop's numbers. The same request always
 * gives the same tokens; which tokens a model knows (its vocabulary) is part of its state.
 * Profile tokens exist only for customers who consented to personalization.
 */
export function requestTokens(input: RuleInput, basket: Basket, products: ReadonlyMap<string, Product>): string[] {
  const t: string[] = ['b', `pl:${input.placement}`, `ch:${input.channel}`];
  const f = input.customer.features as Record<string, unknown>;
  const cohort = typeof f.cohort === 'string' ? f.cohort : null;
  const person: string[] = [];
  if (input.customer.id !== null && cohort !== null) {
    person.push(`co:${cohort}`);
    const rec = num(f.recencyDays);
    if (rec !== null) person.push(`rec:${bucket(rec, [7, 30, 90, 180, 365])}`);
    const freq = num(f.frequency);
    if (freq !== null) person.push(`fr:${bucket(freq, [1, 2, 4, 8])}`);
    const aff = num(f.couponAffinity);
    if (aff !== null && freq !== null && freq > 0) person.push(`ca:${bucket(aff, [0.01, 0.3, 0.7])}`);
    const imp = num(f.impressions30d);
    if (imp !== null) person.push(`imp:${bucket(imp, [1, 3, 10])}`);
    const aov = num(f.aov);
    if (aov !== null && aov > 0) person.push(`aov:${logBucket(aov)}`);
  } else person.push('co:anon');
  t.push(...person);
  let cart: string;
  if (basket.basis === 'cart' && basket.subtotal > 0) {
    cart = `cart:${logBucket(basket.subtotal)}`;
    t.push(cart);
    if (basket.margin !== null) t.push(`mr:${bucket(basket.margin / basket.subtotal, [0.1, 0.2, 0.3, 0.45, 0.6])}`);
    let over = false;
    let low = false;
    for (const l of basket.lines) {
      const p = products.get(l.sku);
      if (!p || p.inventoryOnHand === undefined || !p.dailySalesRate) continue;
      const cover = p.inventoryOnHand / p.dailySalesRate;
      if (cover > 90) over = true;
      if (cover < 7) low = true;
    }
    if (over) t.push('inv:over');
    if (low) t.push('inv:low');
  } else {
    cart = 'cart:none';
    t.push(cart);
  }
  const ctx: string[] = [];
  let n = 0;
  for (const k of Object.keys(input.context).sort()) {
    if (n >= 8) break;
    const v = input.context[k];
    if (typeof v === 'string' && v.length <= 40) ctx.push(`x:${k}=${v}`);
    else if (typeof v === 'boolean') ctx.push(`x:${k}=${v}`);
    else if (typeof v === 'number' && Number.isFinite(v)) ctx.push(`x:${k}~${logBucket(Math.abs(v))}`);
    else continue;
    n++;
  }
  t.push(...ctx);
  // Crossed pairs: the response to an offer differs by who, where and how big the basket is.
  const who = person[0]!;
  t.push(`${who}|pl:${input.placement}`, `${who}|${cart}`, `pl:${input.placement}|${cart}`);
  for (const c of ctx) t.push(`${who}|${c}`);
  return t;
}

/** The tokens a vocabulary knows, as a sparse vector of ones (unknown tokens are skipped). */
export function encodeTokens(tokens: readonly string[], vocab: ReadonlyMap<string, number>): SparseX {
  const idx: number[] = [];
  const val: number[] = [];
  for (const tok of tokens) {
    const i = vocab.get(tok);
    if (i === undefined || idx.includes(i)) continue;
    idx.push(i);
    val.push(1);
  }
  return { idx, val };
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The index of the first bound above x (bounds ascending), so buckets are [.., b0), [b0, b1), … */
function bucket(x: number, bounds: readonly number[]): number {
  let i = 0;
  while (i < bounds.length && x >= bounds[i]!) i++;
  return i;
}

/** Half-octave buckets of an amount: a cart of 40 and one of 55 differ, 40 and 44 do not. */
function logBucket(x: number): number {
  return x <= 0 ? 0 : Math.max(0, Math.round(2 * Math.log2(x)));
}
