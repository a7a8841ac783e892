import type { CatalogSnapshot } from '../core/snapshot.js';
import { OfferpilotError } from '../core/errors.js';
import { parseInput, validationError, type IssueLike } from '../core/validate.js';
import { z } from 'zod';
import { parseDuration, type Clock } from '../core/runtime.js';
import type { Issuance } from '../wallet/port.js';
import { refundDelta } from './plans.js';
import type { DecisionRef, EventRecord, EventRefusalCode, EventWrite, FeatureDelta, IngestPort, OrderRecord } from './port.js';
import type { TokenSigner } from '../tokens/index.js';
import { isCouponCode, normalizeCode } from '../wallet/codes.js';
import { subjectIdOf } from '../core/subject.js';
import { STAT_PREFIX, type StatOp, type StatsHook } from '../learning/stats.js';
import { fastParseEvent } from './fast-validate.js';
import { EventSchema, MAX_BATCH, type OutcomeEvent } from './schema.js';

const BatchShape = z.object({ events: z.array(z.unknown()).min(1).max(MAX_BATCH) }).strict();
/** Events handled between yields to the event loop, so decisions are served while a batch is processed. */
const SLICE = 100;
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

const DEFAULT_WINDOW_MS = 7 * 86_400_000;
/** Client clocks drift; an event further in the future than this is a mistake, not skew. */
const MAX_FUTURE_MS = 5 * 60_000;
/** No shop's outcome data is older than this: an earlier date is a client bug (year 0001, epoch 0). */
export const MIN_OCCURRED_AT = Date.parse('2000-01-01T00:00:00Z');

/** An event of the batch that was not stored as new, with why. */
export interface IngestEventResult {
  /** Its position in the batch. */
  index: number;
  id: string;
  status: 'duplicate' | 'rejected' | 'quarantined';
  /** For rejected and quarantined events: a stable code from the error registry. */
  code?: EventRefusalCode;
  /** The field at fault, as `events.<index>.<field>`. */
  field?: string;
  message?: string;
}

export interface IngestResult {
  /** Events stored by this request. */
  accepted: number;
  /** Events already stored (same id): resending a batch is a no-op. */
  duplicates: number;
  /** Events refused by the checks against stored orders (see `results`); nothing of them is stored. */
  rejected: number;
  /** Refunds and returns held back because their order is not known yet (see `results`). */
  quarantined: number;
  /** Events credited to a decision (by id, token, redemption or attribution window). */
  attributed: number;
  /** Every event not accepted, in batch order: duplicates, rejections and quarantines. */
  results: IngestEventResult[];
}

export interface IngestDeps {
  store: IngestPort;
  snapshot: () => Promise<CatalogSnapshot>;
  tokens: TokenSigner;
  clock: Clock;
  maxPending: number;
  concurrency: number;
  /** Statistic updates each event applies if stored as new (default: none). */
  statsFor?: StatsHook;
}

type Link = { decision: DecisionRef; method: 'decision' | 'token' | 'redemption' | 'order' | 'window'; offerId: string | null };

const subjectOf = (e: OutcomeEvent) => subjectIdOf(e);
const isRefund = (w: EventWrite) => w.event.type === 'refund' || w.event.type === 'return';

/**
 * Event ingestion: validates a batch whole (a bad event names its index and field and nothing
 * is stored), attributes each outcome to the decision that exposed the offer, and writes the
 * batch in one transaction. What only the store can tell (whose order an order id is, what is
 * left to refund on it) is checked inside that write: such events are rejected or quarantined
 * one by one, reported in `results`, and the rest of the batch is stored. Bounded: past
 * `maxPending` events in flight new batches get a 503 (never a silent drop); a 2xx means every
 * event reported accepted or quarantined is durable.
 */
export class Ingestor {
  private pending = 0;
  private running = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly deps: IngestDeps) {}

  /** Events accepted by requests still being written. */
  get inFlight(): number {
    return this.pending;
  }

  /** Validates, attributes and durably stores a batch of events. */
  async ingest(raw: unknown): Promise<IngestResult> {
    const shape = parseInput(BatchShape, raw);
    const events: OutcomeEvent[] = [];
    const issues: IssueLike[] = [];
    for (let i = 0; i < shape.events.length; i++) {
      const fast = fastParseEvent(shape.events[i]);
      if (fast) events.push(fast);
      else {
        const r = EventSchema.safeParse(shape.events[i]);
        if (r.success) events.push(r.data);
        else for (const x of r.error.issues) if (issues.length <= 100) issues.push({ ...x, path: ['events', i, ...x.path] });
      }
      if (i % SLICE === SLICE - 1) await yieldToLoop();
    }
    if (issues.length > 0) throw validationError(issues);
    const now = this.deps.clock.now();
    const s = await this.deps.snapshot();
    const problems: Array<{ path: string; message: string }> = [];
    const times = events.map((e, i) => {
      const t = Date.parse(e.occurredAt);
      if (t > now + MAX_FUTURE_MS) problems.push({ path: `events.${i}.occurredAt`, message: 'is more than 5 minutes in the future' });
      else if (t < MIN_OCCURRED_AT) problems.push({ path: `events.${i}.occurredAt`, message: 'is before 2000-01-01T00:00:00Z' });
      return t;
    });
    events.forEach((e, i) => {
      if (e.type !== 'order') return;
      e.lines.forEach((l, j) => {
        if (l.unitCost === undefined && !s.products.has(l.sku)) problems.push({ path: `events.${i}.lines.${j}.unitCost`, message: `SKU ${l.sku} is not in the product catalog: give unitCost` });
      });
    });
    if (problems.length > 0) {
      const more = problems.length > 100 ? [{ path: '(body)', message: `and ${problems.length - 100} more problems like these` }] : [];
      throw new OfferpilotError('VALIDATION_FAILED', `Invalid ${problems[0]!.path}: ${problems[0]!.message}`, [...problems.slice(0, 100), ...more]);
    }

    if (this.pending + events.length > this.deps.maxPending) {
      throw new OfferpilotError('INGEST_OVERLOADED', `Event ingestion has ${this.pending} events in flight (limit ${this.deps.maxPending}); nothing in this request was stored, retry shortly`);
    }
    this.pending += events.length;
    try {
      await this.acquire();
      try {
        const writes = await this.plan(events, times, now, s);
        // Refunds go after every order of the batch, so one naming an order sent beside it finds it.
        const order = writes.map((_, i) => i).sort((a, b) => Number(isRefund(writes[a]!)) - Number(isRefund(writes[b]!)) || a - b);
        const r = await this.deps.store.writeEvents(order.map((i) => writes[i]!));
        const results: IngestEventResult[] = [];
        let attributed = 0;
        let rejected = 0;
        let quarantined = 0;
        order.forEach((index, k) => {
          const o = r.outcomes[k]!;
          const id = writes[index]!.event.id;
          if (o !== 'accepted' && o !== 'duplicate') {
            if (o.status === 'rejected') rejected++;
            else quarantined++;
            results.push({ index, id, status: o.status, code: o.code, field: `events.${index}.${o.field}`, message: o.message });
            return;
          }
          if (writes[index]!.event.decisionId !== null) attributed++;
          if (o === 'duplicate') results.push({ index, id, status: 'duplicate' });
        });
        results.sort((a, b) => a.index - b.index);
        return { accepted: r.inserted, duplicates: r.duplicates, rejected, quarantined, attributed, results };
      } finally {
        this.release();
      }
    } finally {
      this.pending -= events.length;
    }
  }

  // Limits concurrent batch transactions so ingestion cannot take every pooled connection from decide.
  private async acquire(): Promise<void> {
    if (this.running < this.deps.concurrency) {
      this.running++;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.running--;
  }

  private async plan(events: OutcomeEvent[], times: number[], now: number, s: CatalogSnapshot): Promise<EventWrite[]> {
    const { store, tokens, statsFor } = this.deps;
    // 1. Explicit links: decision ids, tokens / codes, redemptions of the order ids.
    const tokenIss = new Map<string, string>(); // signed token -> issuance id
    const codes = new Set<string>();
    for (const e of events) {
      for (const t of [e.token, ...(e.type === 'order' ? e.tokens : [])]) {
        if (t === undefined) continue;
        if (isCouponCode(t)) codes.add(normalizeCode(t));
        else {
          const v = tokens.verify(t, null);
          if (v.ok) tokenIss.set(t, v.claims.iss);
        }
      }
    }
    const orderIds = events.flatMap((e) => (e.type === 'order' ? [e.orderId] : []));
    const refundedIds = events.flatMap((e) => (e.type === 'refund' || e.type === 'return' ? [e.orderId] : []));
    const [decisions, bySig, byCode, redemptions, refundedOrders] = await Promise.all([
      store.decisionRefs([...new Set(events.flatMap((e) => (e.decisionId ? [e.decisionId] : [])))]),
      store.issuancesByIds([...new Set(tokenIss.values())]),
      store.issuancesByCodes([...codes]),
      store.redemptionsByOrderIds(orderIds),
      store.ordersByIds([...new Set(refundedIds)]),
    ]);
    const orderRefs = new Map(refundedOrders.map((o) => [o.orderId, o]));
    const issuance = new Map<string, Issuance>();
    for (const i of bySig) issuance.set(i.id, i);
    const codeIss = new Map(byCode.map((i) => [i.code!, i]));
    const redByOrder = new Map(redemptions.filter((r) => r.status === 'applied').map((r) => [r.orderId, r]));
    const issOf = (t: string | undefined): Issuance | undefined => {
      if (t === undefined) return undefined;
      if (isCouponCode(t)) return codeIss.get(normalizeCode(t));
      const id = tokenIss.get(t);
      return id !== undefined ? issuance.get(id) : undefined;
    };
    const redeemedIss = await store.issuancesByIds(redemptions.flatMap((r) => r.items.map((i) => i.issuanceId)).filter((id) => !issuance.has(id)));
    for (const i of redeemedIss) issuance.set(i.id, i);

    // 2. Decisions behind those issuances, and each subject's recent decisions for the window rule.
    const windows = new Map(s.campaigns.map((c) => [c.campaign.id, parseDuration(c.campaign.attributionWindow ?? '7d') ?? DEFAULT_WINDOW_MS]));
    const maxWindow = Math.max(DEFAULT_WINDOW_MS, ...windows.values());
    const needWindow = events.filter((e) => !e.decisionId);
    const [issDecisions, recent] = await Promise.all([
      store.decisionRefs([...new Set([...issuance.values(), ...codeIss.values()].map((i) => i.decisionId))]),
      needWindow.length === 0
        ? Promise.resolve([])
        : store.recentDecisions([...new Set(needWindow.map(subjectOf))], Math.min(...needWindow.map((e) => Date.parse(e.occurredAt))) - maxWindow, Math.max(...times)),
    ]);
    const decisionById = new Map([...decisions, ...issDecisions].map((d) => [d.id, d]));
    const recentBySubject = new Map<string, DecisionRef[]>();
    for (const d of recent) {
      const list = recentBySubject.get(d.subjectId);
      if (list) list.push(d);
      else recentBySubject.set(d.subjectId, [d]);
    }

    const link = (e: OutcomeEvent, t: number): Link | null => {
      if (e.decisionId) {
        const d = decisionById.get(e.decisionId);
        return d ? { decision: d, method: 'decision', offerId: e.offerId ?? null } : null;
      }
      for (const tok of [e.token, ...(e.type === 'order' ? e.tokens : [])]) {
        const iss = issOf(tok);
        const d = iss && decisionById.get(iss.decisionId);
        if (iss && d) return { decision: d, method: 'token', offerId: iss.offerId };
      }
      if (e.type === 'refund' || e.type === 'return') {
        // A refund belongs to whatever its order was credited to.
        const o = orderRefs.get(e.orderId);
        if (o?.decisionId) {
          const decision = { id: o.decisionId, subjectId: o.subjectId, campaignId: o.campaignId, holdout: o.holdout === true, createdAt: 0 };
          return { decision, method: 'order', offerId: o.offerId };
        }
      }
      if (e.type === 'order') {
        const red = redByOrder.get(e.orderId);
        const iss = red?.items[0] && issuance.get(red.items[0].issuanceId);
        const d = iss && decisionById.get(iss.decisionId);
        if (iss && d) return { decision: d, method: 'redemption', offerId: iss.offerId };
      }
      // Newest first: the last decision before the event, within its campaign's window.
      for (const d of recentBySubject.get(subjectOf(e)) ?? []) {
        if (d.createdAt > t) continue;
        // The newest decision whose own campaign window still covers the event (windows differ per campaign).
        if (t - d.createdAt <= (windows.get(d.campaignId!) ?? DEFAULT_WINDOW_MS)) return { decision: d, method: 'window', offerId: e.offerId ?? null };
      }
      return null;
    };

    const writes: EventWrite[] = [];
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const l = link(e, times[i]!);
      const w = toWrite(e, i, l);
      if (statsFor) {
        const stats = statsFor(e, l && { decisionId: l.decision.id, campaignId: l.decision.campaignId, holdout: l.decision.holdout, offerId: w.event.offerId, method: l.method });
        if (stats.length > 0) w.stats = checkedStats(stats);
      }
      writes.push(w);
      if (i % SLICE === SLICE - 1) await yieldToLoop();
    }
    return writes;

    function toWrite(e: OutcomeEvent, i: number, l: Link | null): EventWrite {
      const t = times[i]!;
      const subject = subjectOf(e);
      const { id, type, occurredAt: _o, customerId: _c, anonymousId: _a, sessionId, ...rest } = e;
      const event: EventRecord = {
        id,
        type,
        subjectId: subject,
        customerId: e.customerId ?? null,
        sessionId: sessionId ?? null,
        occurredAt: t,
        receivedAt: now,
        orderId: e.type === 'order' || e.type === 'refund' || e.type === 'return' ? e.orderId : null,
        offerId: l?.offerId ?? e.offerId ?? null,
        decisionId: l?.decision.id ?? null,
        campaignId: l?.decision.campaignId ?? null,
        holdout: l ? l.decision.holdout : null,
        attribution: l?.method ?? null,
        amount: null,
        body: JSON.stringify(rest),
      };
      if (e.type === 'order') {
        let subtotal = 0;
        let cost = 0;
        for (const line of e.lines) {
          const p = s.products.get(line.sku);
          subtotal += line.unitPrice * line.quantity;
          cost += line.quantity * ((line.unitCost ?? p!.unitCost) + (p?.fulfilmentCost ?? 0));
        }
        const red = redByOrder.get(e.orderId);
        const withOffer = e.tokens.length > 0 || red !== undefined;
        // Revenue is what the shopper paid; shipping is a pass-through, so the margin is the goods
        // after every discount (a shipping discount is the shop paying the carrier) minus their cost.
        const revenue = subtotal + e.shipping - e.discount;
        event.amount = revenue;
        const order: OrderRecord = {
          orderId: e.orderId,
          eventId: id,
          subjectId: subject,
          customerId: e.customerId ?? null,
          occurredAt: t,
          subtotal,
          shipping: e.shipping,
          discount: e.discount,
          cogs: cost,
          margin: subtotal - e.discount - cost,
          withOffer,
          decisionId: event.decisionId,
          campaignId: event.campaignId,
          offerId: event.offerId ?? red?.items[0]?.offerId ?? null,
          holdout: event.holdout,
          attribution: event.attribution,
        };
        const delta: FeatureDelta = {
          subjectId: subject,
          orders: 1,
          orderAt: t,
          revenue,
          refunded: 0,
          offerOrders: withOffer ? 1 : 0,
          offerDiscount: withOffer ? e.discount : 0,
          offerSubtotal: withOffer ? subtotal + e.shipping : 0,
        };
        // Which issuance each token names, so the store can hold them against the order's redemption.
        const tokenIssuances = e.tokens.map((tok) => (isCouponCode(tok) ? (codeIss.get(normalizeCode(tok))?.id ?? null) : (tokenIss.get(tok) ?? null)));
        return { event, order, delta, tokenIssuances };
      }
      if (e.type === 'refund' || e.type === 'return') {
        event.amount = e.amount;
        return { event, delta: refundDelta(event) };
      }
      if (e.type === 'add_to_cart' && e.unitPrice !== undefined) event.amount = e.unitPrice * e.quantity;
      if (e.type === 'checkout_started' && e.cartValue !== undefined) event.amount = e.cartValue;
      return { event };
    }
  }
}

/** A hook's ops, checked: a statistic must never move a guardrail counter, nor store a fraction. */
function checkedStats(ops: readonly StatOp[]): readonly StatOp[] {
  for (const op of ops) {
    if (!op.key.startsWith(STAT_PREFIX) || !Number.isSafeInteger(op.amount)) {
      throw new OfferpilotError('INTERNAL', `statistic op ${JSON.stringify(op)} is invalid: keys start with ${STAT_PREFIX}, amounts are safe integers`);
    }
  }
  return ops;
}
