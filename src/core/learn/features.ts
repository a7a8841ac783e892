import type { Basket } from '../economics.js';
import type { Product } from '../catalog.js';
import type { RuleInput } from '../rules.js';
import type { SparseX } from './linear.js';

/**
 * What the learners see of a request, as tokens that name nested segments — who (cohort), then
 * where (placement), then how big the cart is, then its margin rate, each context value
 * (device…), the inventory position of its SKUs — so a linear model over them with a ridge prior
 * is a hierarchical model: a segment's estimate is its parent's plus a deviation shrunk toward
 * zero (more strongly the deeper it is) until the segment has data of its own; nothing
 * extrapolates additively across branches. No shop's numbers
 * are assumed: buckets are by order of magnitude. The same request always gives the same tokens;
 * which tokens a model knows (its vocabulary) is part of its state. Profile tokens exist only
 * for customers who consented to personalization.
 */
export function requestTokens(input: RuleInput, basket: Basket, products: ReadonlyMap<string, Product>): string[] {
  const f = input.customer.features as Record<string, unknown>;
  const cohort = input.customer.id !== null && typeof f.cohort === 'string' ? `co:${f.cohort}` : 'co:anon';
  const cart = basket.basis === 'cart' && basket.subtotal > 0 ? `cart:${octave(basket.subtotal)}` : 'cart:none';
  const who = cohort;
  const where = `${who}|pl:${input.placement}`;
  const size = `${where}|${cart}`;
  const t: string[] = ['b', `ch:${input.channel}`, who, where, size];
  const freq = num(f.frequency);
  if (input.customer.id !== null && freq !== null) t.push(`${who}|fr:${bucket(freq, [1, 2, 4, 8])}`);
  if (basket.basis === 'cart' && basket.subtotal > 0) {
    if (basket.margin !== null) t.push(`${size}|mr:${bucket(basket.margin / basket.subtotal, [0.1, 0.2, 0.3, 0.45, 0.6])}`);
    let over = false;
    let low = false;
    for (const l of basket.lines) {
      const p = products.get(l.sku);
      if (!p || p.inventoryOnHand === undefined || !p.dailySalesRate) continue;
      const cover = p.inventoryOnHand / p.dailySalesRate;
      if (cover > 90) over = true;
      if (cover < 7) low = true;
    }
    if (over) t.push(`${where}|inv:over`);
    if (low) t.push(`${where}|inv:low`);
  }
  let n = 0;
  for (const k of Object.keys(input.context).sort()) {
    if (n >= 8) break;
    const v = input.context[k];
    let tok: string;
    if (typeof v === 'string' && v.length <= 40) tok = `x:${k}=${v}`;
    else if (typeof v === 'boolean') tok = `x:${k}=${v}`;
    else if (typeof v === 'number' && Number.isFinite(v)) tok = `x:${k}~${octave(Math.abs(v))}`;
    else continue;
    n++;
    t.push(`${where}|${tok}`, `${size}|${tok}`);
  }
  return t;
}

/** How deep in the segment tree a token is: 0 for the intercept, 1 for a top-level segment, … */
export function tokenDepth(token: string): number {
  if (token === 'b') return 0;
  let d = 1;
  for (let i = 0; i < token.length; i++) if (token.charCodeAt(i) === 124) d++;
  return d;
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

/** Octave buckets of an amount: a cart of 40 and one of 80 differ, 40 and 50 do not. */
function octave(x: number): number {
  return x <= 0 ? 0 : Math.max(0, Math.round(Math.log2(x)));
}

/**
 * The dose of an offer: its cost to the shop relative to the basket's margin (capped at 2). How
 * much an offer persuades depends on how much it is worth next to what is bought — 5.99 of free
 * shipping moves a 20 basket, not a 200 one — so an offer's purchase model reads its dose, overall
 * and per cohort, besides the request's tokens: what one offer shows about depth (every offer and
 * rung pools it) carries to the others and to other basket sizes. "No offer" has none.
 */
export function doseOf(cost: number, margin: number): number {
  return Math.min(2, Math.max(0, cost / Math.max(1, margin)));
}

/** The dose tokens of a request: one overall, one for the request's cohort (tokens from requestTokens). */
export function doseTokens(tokens: readonly string[]): [string, string] {
  return ['dp', `${cohortToken(tokens)}|dp`];
}

/** A request's cohort token (`co:anon` when it has none). */
function cohortToken(tokens: readonly string[]): string {
  return tokens.find((t) => t.startsWith('co:') && !t.includes('|')) ?? 'co:anon';
}

/** A request's encoding with an action's dose added (`dose` 0: unchanged); unknown tokens are skipped. */
export function withDose(x: SparseX, tokens: readonly string[], vocab: ReadonlyMap<string, number>, dose: number): SparseX {
  if (dose === 0) return x;
  const idx = [...x.idx];
  const val = [...x.val];
  for (const tok of doseTokens(tokens)) {
    const i = vocab.get(tok);
    if (i === undefined) continue;
    idx.push(i);
    val.push(dose);
  }
  return idx.length === x.idx.length ? x : { idx, val };
}

/**
 * The period token of a logged decision: its cohort in the period (of `periodMs`, counted from
 * the epoch) it was made in. Only training rows carry it, never a request: it lets a model
 * compare actions within the same weeks, so an action chosen mostly late (when a cohort's
 * shoppers had become other shoppers) is not credited or blamed for the cohort's drift.
 */
export function periodToken(tokens: readonly string[], at: number, periodMs: number): string {
  return `${cohortToken(tokens)}|pd:${Math.floor(at / periodMs)}/${periodMs}`;
}

/**
 * The holdout tokens of a logged holdout decision: one overall, one for its cohort. Only training
 * rows carry them, never a request: "no offer" learns from the holdout what the treated shoppers
 * it left without an offer cannot show (see the trainer), and these tokens absorb how the holdout's
 * shoppers differ from the treated ones, so a prediction is for the treated population.
 */
export function holdoutTokens(tokens: readonly string[]): [string, string] {
  return ['ho', `${cohortToken(tokens)}|ho`];
}

/** Whether a token is a holdout token (see holdoutTokens). */
export function isHoldoutToken(token: string): boolean {
  return token === 'ho' || token.endsWith('|ho');
}

/** The period a period token names (its index and length), or null for any other token. */
export function periodOfToken(token: string): { k: number; ms: number } | null {
  const at = token.indexOf('|pd:');
  if (at < 0) return null;
  const slash = token.indexOf('/', at);
  // A token from before periods named their length: length unknown (0), so it leaves the vocabulary.
  if (slash < 0) return { k: Number(token.slice(at + 4)), ms: 0 };
  return { k: Number(token.slice(at + 4, slash)), ms: Number(token.slice(slash + 1)) };
}
