import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ChannelSchema, type Offer, type Product } from '../core/catalog.js';
import { counterKeys } from '../core/counter-keys.js';
import { CartLineSchema } from '../core/request.js';
import { OfferpilotError, type ErrorCode } from '../core/errors.js';
import { parseInput } from '../core/validate.js';
import type { IdGenerator } from '../ids/index.js';
import { anonymousSubject, customerSubject, subjectIdOf } from '../core/subject.js';
import { utcDay, type Clock } from '../core/runtime.js';
import { expiryWrite, releaseOps } from './plans.js';
import type { CounterMove, Issuance, RedemptionPlan, RedemptionRecord, RollbackPlan, WalletPort } from './port.js';
import type { TokenSigner } from '../tokens/index.js';
import { isCouponCode, normalizeCode } from './codes.js';
import { applyOffers, type CheckoutDefaults, type CheckoutResult } from '../core/discount.js';

const Id = z.string().min(1).max(200);

export const RedemptionRequestSchema = z
  .object({
    orderId: Id.describe('The shop’s order id: redeeming the same order again returns the first result'),
    customerId: Id.optional(),
    anonymousId: Id.optional(),
    channel: ChannelSchema,
    tokens: z.array(z.string().min(1).max(2000)).min(1).max(10).describe('Offer tokens or coupon codes, applied in this order'),
    cart: z
      .object({
        currency: z.string().length(3).optional(),
        lines: z.array(CartLineSchema).min(1).max(500),
        shipping: z.number().int().min(0).max(1e10).default(0).describe('Shipping fee before offers, minor units'),
      })
      .strict()
      .refine((c) => c.lines.reduce((s, l) => s + l.unitPrice * l.quantity, 0) <= 900_000_000_000, { message: 'cart subtotal above 900,000,000,000 minor units', path: ['lines'] }),
  })
  .strict()
  .refine((r) => r.customerId !== undefined || r.anonymousId !== undefined, { message: 'give customerId or anonymousId', path: ['customerId'] });
export type RedemptionRequest = z.output<typeof RedemptionRequestSchema>;

/** A redemption as the API returns it. */
export interface RedemptionView extends Omit<CheckoutResult, 'applied'> {
  redemptionId: string;
  orderId: string;
  status: 'applied' | 'rolled_back';
  channel: string;
  createdAt: string;
  rolledBackAt: string | null;
  /** The offers applied, in order, with what each gave and cost. */
  offers: CheckoutResult['applied'];
  /** True when this is the stored answer to an earlier request for the same order. */
  replayed?: boolean;
}

/** A wallet entry: an offer issued to the customer, unexpired and unredeemed. */
export interface WalletEntry {
  issuanceId: string;
  offerId: string;
  offerVersion: number;
  name: string;
  type: Offer['type'];
  value: number | null;
  discount: number;
  points: number;
  channel: string;
  placement: string;
  issuedAt: string;
  expiresAt: string;
  code: string | null;
  token: string;
}

export interface WalletDeps {
  store: WalletPort;
  tokens: TokenSigner;
  clock: Clock;
  ids: IdGenerator;
  products: () => Promise<ReadonlyMap<string, Product>>;
  /** The offer's current version, whose caps and budget bind (the issued version's terms set the discount). */
  currentOffer: (id: string) => Promise<Offer | undefined>;
  defaults: CheckoutDefaults;
}

const UNLIMITED = Number.MAX_SAFE_INTEGER;
/** Wallet page size when none is asked for, and the most one page returns. */
export const WALLET_PAGE_DEFAULT = 50;
export const WALLET_PAGE_MAX = 100;

/** An opaque wallet cursor: the last entry's sort key (issued_at, id). */
function encodeCursor(issuedAt: number, id: string): string {
  return Buffer.from(JSON.stringify([issuedAt, id])).toString('base64url');
}

function decodeCursor(cursor: string): { issuedAt: number; id: string } {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    v = null;
  }
  if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || typeof v[1] !== 'string') {
    throw new OfferpilotError('VALIDATION_FAILED', 'cursor: not a cursor this endpoint returned', [{ path: 'query.cursor', message: 'not a cursor this endpoint returned (use nextCursor as given)' }]);
  }
  return { issuedAt: v[0] as number, id: v[1] as string };
}
const iso = (t: number) => new Date(t).toISOString();
type TokenProblem = { index: number; code: ErrorCode; message: string };

function problemsError(ps: TokenProblem[]): OfferpilotError {
  const first = ps[0]!;
  return new OfferpilotError(
    first.code,
    `tokens.${first.index}: ${first.message}`,
    ps.map((p) => ({ path: `tokens.${p.index}`, message: `${p.code}: ${p.message}` })),
  );
}

/** Wallet, redemption, rollback and expiry: the checkout side of an offer's life. */
export class Wallet {
  private readonly offers = new Map<string, Offer>();

  constructor(private readonly d: WalletDeps) {}

  /** Offer versions are immutable, so each is read once. */
  private async offerVersion(id: string, version: number): Promise<Offer> {
    const k = `${id}@${version}`;
    let o = this.offers.get(k);
    if (!o) {
      o = (await this.d.store.getVersioned('offer', id, version)) ?? undefined;
      if (!o) throw new OfferpilotError('OFFER_NOT_FOUND', `Offer ${id} v${version} is gone`);
      if (this.offers.size > 10_000) this.offers.clear();
      this.offers.set(k, o);
    }
    return o;
  }

  /** Lists a page of a customer's usable offers across sessions, devices and channels, newest first. */
  async list(customerId: string, page: { limit?: number; cursor?: string } = {}): Promise<{ customerId: string; entries: WalletEntry[]; nextCursor: string | null }> {
    const now = this.d.clock.now();
    const limit = page.limit ?? WALLET_PAGE_DEFAULT;
    if (!Number.isInteger(limit) || limit < 1 || limit > WALLET_PAGE_MAX) {
      throw new OfferpilotError('VALIDATION_FAILED', `limit: an integer from 1 to ${WALLET_PAGE_MAX}`, [{ path: 'query.limit', message: `an integer from 1 to ${WALLET_PAGE_MAX}` }]);
    }
    const after = page.cursor !== undefined ? decodeCursor(page.cursor) : undefined;
    // One row past the page tells whether another page follows.
    const fetched = await this.d.store.wallet(customerId, now, { limit: limit + 1, ...(after ? { after } : {}) });
    const rows = fetched.slice(0, limit);
    const last = rows[rows.length - 1];
    const nextCursor = fetched.length > limit && last ? encodeCursor(last.issuedAt, last.id) : null;
    const entries = await Promise.all(
      rows.map(async (r): Promise<WalletEntry> => {
        const o = await this.offerVersion(r.offerId, r.offerVersion);
        return {
          issuanceId: r.id,
          offerId: r.offerId,
          offerVersion: r.offerVersion,
          name: o.name,
          type: o.type,
          value: r.value,
          discount: r.discount,
          points: r.points,
          channel: r.channel,
          placement: r.placement,
          issuedAt: iso(r.issuedAt),
          expiresAt: iso(r.expiresAt),
          code: r.code,
          // Tokens are deterministic in their claims: re-signing gives any device a working token.
          token: this.d.tokens.sign({ iss: r.id, ofr: r.offerId, ver: r.offerVersion, sub: r.subjectId, val: r.value, exp: Math.floor(r.expiresAt / 1000) }),
        };
      }),
    );
    return { customerId, entries, nextCursor };
  }

  /** Validates tokens against the cart and computes the discount, without redeeming anything. */
  async quote(raw: unknown): Promise<Omit<RedemptionView, 'redemptionId' | 'status' | 'createdAt' | 'rolledBackAt'>> {
    const req = parseInput(RedemptionRequestSchema, raw);
    const { result } = await this.check(req, this.d.clock.now());
    return { orderId: req.orderId, channel: req.channel, ...view(result) };
  }

  private async check(req: RedemptionRequest, now: number): Promise<{ result: CheckoutResult; issuances: Issuance[]; offers: Offer[] }> {
    const problems: TokenProblem[] = [];
    const codes = req.tokens.filter(isCouponCode).map(normalizeCode);
    const sigs = req.tokens.map((t) => (isCouponCode(t) ? null : this.d.tokens.verify(t, null)));
    const [byCode, byId] = await Promise.all([
      this.d.store.issuancesByCodes(codes),
      this.d.store.issuancesByIds(sigs.flatMap((v) => (v?.ok ? [v.claims.iss] : []))),
    ]);
    const subjects = new Set([req.customerId !== undefined ? customerSubject(req.customerId) : null, req.anonymousId !== undefined ? anonymousSubject(req.anonymousId) : null]);
    const issuances: Array<Issuance | null> = req.tokens.map((t, index) => {
      const sig = sigs[index];
      let iss: Issuance | undefined;
      if (sig === null) {
        iss = byCode.find((i) => i.code === normalizeCode(t));
        if (!iss) problems.push({ index, code: 'TOKEN_INVALID', message: 'unknown coupon code' });
      } else if (sig && !sig.ok) {
        problems.push({ index, code: 'TOKEN_INVALID', message: `token ${sig.reason.toLowerCase().replace('_', ' ')}` });
      } else if (sig?.ok) {
        iss = byId.find((i) => i.id === sig.claims.iss);
        if (!iss || iss.offerId !== sig.claims.ofr || iss.subjectId !== sig.claims.sub) {
          problems.push({ index, code: 'TOKEN_INVALID', message: 'the token’s offer no longer exists' });
          iss = undefined;
        }
      }
      if (!iss) return null;
      // Ownership first: someone else's code says only that it is not theirs (and counts as a
      // failed guess), never whether it was redeemed or has expired.
      if (!subjects.has(iss.subjectId) && !(iss.customerId !== null && iss.customerId === req.customerId)) {
        problems.push({ index, code: 'TOKEN_NOT_FOR_CUSTOMER', message: 'the offer was issued to another customer' });
      } else if (iss.status === 'redeemed') problems.push({ index, code: 'TOKEN_ALREADY_REDEEMED', message: 'the offer was already redeemed' });
      else if (iss.status === 'expired' || iss.expiresAt <= now) problems.push({ index, code: 'TOKEN_EXPIRED', message: `the offer expired at ${iso(iss.expiresAt)}` });
      return iss;
    });
    const offers = await Promise.all(issuances.map((i) => (i ? this.offerVersion(i.offerId, i.offerVersion) : null)));
    offers.forEach((o, index) => {
      if (o && !o.channels.includes(req.channel)) problems.push({ index, code: 'CHANNEL_NOT_ALLOWED', message: `the offer is redeemable on ${o.channels.join(', ')}` });
    });
    // Stacking: one use per offer and per issuance, exclusive offers alone, one offer per stacking group.
    for (let j = 0; j < offers.length; j++) {
      for (let i = 0; i < j; i++) {
        const a = offers[i];
        const b = offers[j];
        if (!a || !b) continue;
        const why =
          issuances[i]!.id === issuances[j]!.id
            ? 'the same offer token twice'
            : a.id === b.id
              ? 'the same offer twice'
              : a.exclusive || b.exclusive
                ? `${a.exclusive ? a.id : b.id} is exclusive`
                : a.stackingGroup !== undefined && a.stackingGroup === b.stackingGroup
                  ? `both are in stacking group ${a.stackingGroup}`
                  : null;
        if (why) {
          problems.push({ index: j, code: 'NOT_STACKABLE', message: `cannot be combined with tokens.${i}: ${why}` });
          break;
        }
      }
    }
    if (problems.length > 0) throw problemsError(problems.sort((a, b) => a.index - b.index));
    const products = await this.d.products();
    const r = applyOffers(
      { lines: req.cart.lines, shipping: req.cart.shipping },
      issuances.map((iss, i) => ({ issuanceId: iss!.id, offer: offers[i]!, value: iss!.value })),
      products,
      this.d.defaults,
    );
    if ('failure' in r) throw problemsError([r.failure]);
    return { result: r, issuances: issuances as Issuance[], offers: offers as Offer[] };
  }

  /**
   * A digest of everything that decides a redemption's result: who, channel, the wallet entries
   * the tokens name and the cart. Signed tokens count by the issuance they name (a token re-signed
   * under a rotated key is the same request), coupon codes as normalised.
   */
  private fingerprint(req: RedemptionRequest): string {
    const tokens = req.tokens.map((t) => {
      if (isCouponCode(t)) return `code:${normalizeCode(t)}`;
      const v = this.d.tokens.verify(t, null);
      return v.ok ? `iss:${v.claims.iss}` : `raw:${t}`;
    });
    const cart = [req.cart.currency ?? null, req.cart.shipping, req.cart.lines.map((l) => [l.sku, l.quantity, l.unitPrice])];
    return createHash('sha256').update(JSON.stringify([1, subjectIdOf(req), req.channel, tokens, cart])).digest('base64url');
  }

  /**
   * Redeems tokens on an order: all or nothing, once per order id, within caps, budget and daily
   * liability. The order id is the idempotency key: the same request again is answered with the
   * first result; another request (cart, channel, customer or tokens) under it is ORDER_CONFLICT,
   * and an order whose redemption was rolled back is ORDER_ROLLED_BACK (a new order id redeems).
   */
  async redeem(raw: unknown): Promise<RedemptionView> {
    const req = parseInput(RedemptionRequestSchema, raw);
    const now = this.d.clock.now();
    const fingerprint = this.fingerprint(req);
    let checked: Awaited<ReturnType<Wallet['check']>>;
    try {
      checked = await this.check(req, now);
    } catch (e) {
      // A retry of a redemption that went through finds its tokens used: answer with the first result.
      const prior = (await this.d.store.redemptionsByOrderIds([req.orderId]))[0];
      if (prior) return this.replay(prior, req, fingerprint);
      throw e;
    }
    const { result, issuances, offers } = checked;
    const id = this.d.ids('redemption');
    const body: RedemptionView = {
      redemptionId: id,
      orderId: req.orderId,
      status: 'applied',
      channel: req.channel,
      createdAt: iso(now),
      rolledBackAt: null,
      ...view(result),
    };
    const ops: RedemptionPlan['counterOps'] = [];
    const limits = await Promise.all(offers.map(async (o) => (await this.d.currentOffer(o.id)) ?? o));
    result.applied.forEach((a, index) => {
      const iss = issuances[index]!;
      const o = offers[index]!;
      const lim = limits[index]!;
      ops.push({ key: counterKeys.redeemed(o.id), amount: 1, limit: lim.caps.redemptions ?? UNLIMITED, offerId: o.id, reason: 'REDEMPTION_CAP', index });
      const extra = settle(a.cost, iss.reserved);
      if (extra > 0) {
        ops.push({ key: counterKeys.spent(o.id), amount: extra, limit: lim.budget.total ?? UNLIMITED, offerId: o.id, reason: 'BUDGET_EXHAUSTED', index });
        ops.push({ key: counterKeys.daily(o.id, iss.liabilityDay), amount: extra, limit: lim.budget.dailyLiability ?? UNLIMITED, offerId: o.id, reason: 'DAILY_LIABILITY', index });
      }
    });
    ops.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const plan: RedemptionPlan = {
      now,
      redemption: {
        id,
        orderId: req.orderId,
        subjectId: subjectIdOf(req),
        customerId: req.customerId ?? null,
        channel: req.channel,
        status: 'applied',
        createdAt: now,
        rolledBackAt: null,
        discount: result.discountTotal,
        cost: result.applied.reduce((s, a) => s + a.cost, 0),
        points: result.points,
        body: JSON.stringify(body),
        fingerprint,
      },
      items: result.applied.map((a, index) => ({ issuanceId: a.issuanceId, offerId: a.offerId, discount: a.discount, cost: a.cost, points: a.points, index })),
      counterOps: ops,
      ledger: result.applied.map((a, index) => ({
        id: `${id}:${a.issuanceId}:redeem`,
        issuanceId: a.issuanceId,
        offerId: a.offerId,
        kind: 'redeem',
        day: utcDay(now),
        at: now,
        liability: -issuances[index]!.cost,
        cost: a.cost,
        points: a.points,
        redemptionId: id,
      })),
    };
    const r = await this.d.store.redeem(plan);
    if (r.status === 'applied') return body;
    if (r.status === 'duplicate') return this.replay(r.redemption, req, fingerprint);
    // A concurrent retry of this very order may have won the race for the token or the cap.
    const prior = (await this.d.store.redemptionsByOrderIds([req.orderId]))[0];
    if (prior) return this.replay(prior, req, fingerprint);
    if (r.failure.code === 'ORDER_DISCOUNT_MISMATCH') {
      throw new OfferpilotError('ORDER_DISCOUNT_MISMATCH', `Order ${req.orderId}: ${r.failure.message}; this cart's discount is ${result.discountTotal}`, [
        { path: 'orderId', message: `already reported as an order with another discount than ${result.discountTotal}` },
      ]);
    }
    throw problemsError([{ index: r.failure.index, code: r.failure.code, message: r.failure.message }]);
  }

  /** The stored answer for a retried order: the same request (by fingerprint), else ORDER_CONFLICT; never a rolled-back one. */
  private async replay(prior: RedemptionRecord, req: RedemptionRequest, fingerprint: string): Promise<RedemptionView> {
    const stored = stored_(prior);
    const subject = subjectIdOf(req);
    const codes = req.tokens.filter(isCouponCode).map(normalizeCode);
    const byCode = codes.length > 0 ? await this.d.store.issuancesByCodes(codes) : [];
    const ids = req.tokens.map((t) => {
      if (isCouponCode(t)) return byCode.find((i) => i.code === normalizeCode(t))?.id;
      const v = this.d.tokens.verify(t, null);
      return v.ok ? v.claims.iss : undefined;
    });
    const storedIds = new Set(stored.offers.map((o) => o.issuanceId));
    const same = prior.subjectId === subject && ids.length === storedIds.size && ids.every((id) => id !== undefined && storedIds.has(id));
    // Rows from before fingerprints were kept are compared on customer and tokens alone.
    const samePayload = prior.fingerprint === null || prior.fingerprint === fingerprint;
    if (!same || !samePayload) {
      const what = !same ? 'other tokens or for another customer' : 'another cart or channel';
      throw new OfferpilotError('ORDER_CONFLICT', `Order ${req.orderId} was already redeemed (${stored.redemptionId}) with ${what}`, [
        { path: 'orderId', message: `already used by ${stored.redemptionId} with a different request` },
      ]);
    }
    // Answering a retry with a redemption that no longer holds would tell the shop the discount stands.
    if (prior.status !== 'applied') {
      throw new OfferpilotError('ORDER_ROLLED_BACK', `Order ${req.orderId} was redeemed (${stored.redemptionId}) and rolled back; redeem under a new order id`, [
        { path: 'orderId', message: `redemption ${stored.redemptionId} was rolled back` },
      ]);
    }
    return { ...stored, replayed: true };
  }

  /** The stored redemption. */
  async get(id: string): Promise<RedemptionView> {
    const r = await this.d.store.getRedemption(id);
    if (!r) throw new OfferpilotError('REDEMPTION_NOT_FOUND', `No redemption ${id}`);
    return stored_(r);
  }

  /** Undoes a redemption (cancelled order): offers return to the wallet (or expire), caps and budget are restored. Idempotent. */
  async rollback(id: string): Promise<RedemptionView> {
    const r = await this.d.store.getRedemption(id);
    if (!r) throw new OfferpilotError('REDEMPTION_NOT_FOUND', `No redemption ${id}`);
    if (r.status !== 'applied') return stored_(r);
    const now = this.d.clock.now();
    const issuances = await this.d.store.issuancesByIds(r.items.map((i) => i.issuanceId));
    const plan: RollbackPlan = { now, redemptionId: id, issuances: [], counterOps: [], ledger: [] };
    for (const item of r.items) {
      const iss = issuances.find((i) => i.id === item.issuanceId)!;
      const expired = iss.expiresAt <= now;
      plan.issuances.push({ id: iss.id, toStatus: expired ? 'expired' : 'issued' });
      const ops: CounterMove[] = [{ key: counterKeys.redeemed(item.offerId), amount: -1, limit: UNLIMITED, offerId: item.offerId, reason: 'REDEMPTION_CAP' }];
      // Back to the reservation made at issue (counters only go down, so no limit can be
      // overrun), or to nothing if the offer has expired meanwhile.
      ops.push(...releaseOps(item.offerId, iss.liabilityDay, settle(item.cost, iss.reserved) + (expired ? iss.reserved : 0)));
      plan.counterOps.push(...ops);
      plan.ledger.push({
        id: `${id}:${iss.id}:rollback`,
        issuanceId: iss.id,
        offerId: item.offerId,
        kind: 'rollback',
        day: utcDay(now),
        at: now,
        liability: iss.cost,
        cost: -item.cost,
        points: -item.points,
        redemptionId: id,
      });
      if (expired) plan.ledger.push({ ...expiryWrite(iss).ledger, day: utcDay(now), at: now });
    }
    plan.counterOps.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    await this.d.store.rollback(plan);
    return stored_((await this.d.store.getRedemption(id))!);
  }

  /**
   * Moves issued offers whose expiry has passed to breakage, releasing their reservations.
   * Everything that expired before the cursor has been swept (a rollback of an expired offer
   * expires it at once), so each sweep reads only what expired since the last one.
   */
  async sweep(limit = 10_000): Promise<number> {
    const now = this.d.clock.now();
    let total = 0;
    for (;;) {
      const due = await this.d.store.dueExpiries(now, Math.min(limit - total, 1000), this.expiryCursor);
      if (due.length === 0) break;
      total += await this.d.store.expire(due.map(expiryWrite));
      if (due.length < 1000 || total >= limit) break;
    }
    if (total < limit) this.expiryCursor = now;
    return total;
  }

  private expiryCursor = 0;
}

/**
 * What a redemption adds to the budget and daily-liability counters: the cost beyond the
 * reservation made at issue. A redemption cheaper than its reservation keeps the reservation
 * (budgets count max(expected, actual)), so a later rollback only ever lowers the counters.
 */
function settle(cost: number, reserved: number): number {
  return Math.max(0, cost - reserved);
}

function view({ applied, ...rest }: CheckoutResult) {
  return { ...rest, offers: applied };
}

function stored_(r: RedemptionRecord): RedemptionView {
  const body = JSON.parse(r.body) as RedemptionView;
  return { ...body, status: r.status as RedemptionView['status'], rolledBackAt: r.rolledBackAt === null ? null : iso(r.rolledBackAt) };
}
