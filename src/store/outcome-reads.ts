import { sql, type Kysely } from 'kysely';
import { anonymousSubject, customerSubject } from '../core/subject.js';
import type { OutcomeReads } from './ports.js';
import type { DB } from './schema.js';
import type { DecisionRef } from './outcome-plan.js';

const ref = (r: { id: string; subject_id: string; campaign_id: string | null; holdout: number; created_at: number }): DecisionRef => ({
  id: r.id,
  subjectId: r.subject_id,
  campaignId: r.campaign_id,
  holdout: Number(r.holdout) === 1,
  createdAt: Number(r.created_at),
});

const num = <T extends Record<string, unknown>>(r: T, keys: Array<keyof T>): T => {
  for (const k of keys) if (r[k] !== null && r[k] !== undefined) (r as Record<string, unknown>)[k as string] = Number(r[k]);
  return r;
};
const ISS_NUM: Array<keyof DB['issuances']> = ['offer_version', 'discount', 'cost', 'reserved', 'points', 'issued_at', 'expires_at'];
const RED_NUM: Array<keyof DB['redemptions']> = ['created_at', 'rolled_back_at', 'discount', 'cost', 'points'];
const ITEM_NUM: Array<keyof DB['redemption_items']> = ['discount', 'cost', 'points'];

// Large IN lists are split so neither backend meets its parameter limit.
async function chunked<T>(ids: string[], f: (part: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += 500) out.push(...(await f(ids.slice(i, i + 500))));
  return out;
}

/** The outcome reads, shared by both dialects. */
export function createOutcomeReads(db: Kysely<DB>): OutcomeReads {
  const withItems = async (rows: Array<DB['redemptions']>) => {
    if (rows.length === 0) return [];
    const items = await chunked(rows.map((r) => r.id), (part) => db.selectFrom('redemption_items').selectAll().where('redemption_id', 'in', part).execute());
    return rows.map((r) => ({ ...num(r, RED_NUM), items: items.filter((i) => i.redemption_id === r.id).map((i) => num(i, ITEM_NUM)) }));
  };
  return {
    async decisionRefs(ids) {
      if (ids.length === 0) return [];
      const rows = await chunked(ids, (part) =>
        db.selectFrom('decisions').select(['id', 'subject_id', 'campaign_id', 'holdout', 'created_at']).where('id', 'in', part).execute(),
      );
      return rows.map(ref);
    },
    async recentDecisions(subjectIds, from, to) {
      if (subjectIds.length === 0) return [];
      const rows = await chunked(subjectIds, (part) =>
        db
          .selectFrom('decisions')
          .select(['id', 'subject_id', 'campaign_id', 'holdout', 'created_at'])
          .where('subject_id', 'in', part)
          .where('created_at', '>=', from)
          .where('created_at', '<=', to)
          .where('campaign_id', 'is not', null)
          .execute(),
      );
      return rows.map(ref).sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
    },
    async issuancesByIds(ids) {
      if (ids.length === 0) return [];
      return (await chunked(ids, (part) => db.selectFrom('issuances').selectAll().where('id', 'in', part).execute())).map((r) => num(r, ISS_NUM));
    },
    async issuancesByCodes(codes) {
      if (codes.length === 0) return [];
      return (await chunked(codes, (part) => db.selectFrom('issuances').selectAll().where('code', 'in', part).execute())).map((r) => num(r, ISS_NUM));
    },
    async redemptionsByOrderIds(orderIds) {
      if (orderIds.length === 0) return [];
      return withItems(await chunked(orderIds, (part) => db.selectFrom('redemptions').selectAll().where('order_id', 'in', part).execute()));
    },
    async ordersByIds(orderIds) {
      if (orderIds.length === 0) return [];
      const rows = await chunked(orderIds, (part) => db.selectFrom('orders').selectAll().where('order_id', 'in', part).execute());
      return rows.map((r) => num(r, ['occurred_at', 'subtotal', 'shipping', 'discount', 'cogs', 'margin', 'with_offer', 'holdout']));
    },
    async getRedemption(id) {
      const r = await db.selectFrom('redemptions').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? (await withItems([r]))[0]! : null;
    },
    async wallet(customerId, now, page) {
      let q = db
        .selectFrom('issuances')
        .selectAll()
        .where((eb) => eb.or([eb('subject_id', '=', customerSubject(customerId)), eb('customer_id', '=', customerId)]))
        .where('status', '=', 'issued')
        .where('expires_at', '>', now);
      // Keyset paging on (issued_at, id), newest first: a total order, so no entry is skipped or repeated.
      const after = page.after;
      if (after) q = q.where((eb) => eb.or([eb('issued_at', '<', after.issuedAt), eb.and([eb('issued_at', '=', after.issuedAt), eb('id', '<', after.id)])]));
      const rows = await q.orderBy('issued_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
      return rows.map((r) => num(r, ISS_NUM));
    },
    async dueExpiries(now, limit, from = 0) {
      const rows = await db
        .selectFrom('issuances')
        .selectAll()
        .where('expires_at', '>=', from)
        .where('expires_at', '<=', now)
        .where('status', '=', 'issued')
        .orderBy('expires_at')
        .limit(limit)
        .execute();
      return rows.map((r) => num(r, ISS_NUM));
    },
    async liabilityData() {
      const issued = await db
        .selectFrom('issuances')
        .select(['offer_id', 'liability_day as day'])
        .select((eb) => [eb.fn.countAll<number>().as('count'), eb.fn.sum<number>('cost').as('liability'), eb.fn.sum<number>('points').as('points')])
        // Content shown is recorded for its caps but is no incentive: it carries no liability.
        .where('status', '!=', 'shown')
        .groupBy(['offer_id', 'liability_day'])
        .execute();
      const moves = await db
        .selectFrom('liability_ledger')
        .select(['offer_id', 'day', 'kind'])
        .select((eb) => [
          eb.fn.countAll<number>().as('count'),
          eb.fn.sum<number>('liability').as('liability'),
          eb.fn.sum<number>('cost').as('cost'),
          eb.fn.sum<number>('points').as('points'),
        ])
        .groupBy(['offer_id', 'day', 'kind'])
        .execute();
      return {
        issued: issued.map((r) => ({ offer_id: r.offer_id, day: r.day, count: Number(r.count), liability: Number(r.liability), points: Number(r.points) })),
        moves: moves.map((r) => ({ ...r, count: Number(r.count), liability: Number(r.liability), cost: Number(r.cost), points: Number(r.points) })),
      };
    },
    async eventCounts(subjectId) {
      const rows = await db.selectFrom('events').select(['type']).select((eb) => eb.fn.countAll<number>().as('n')).where('subject_id', '=', subjectId).groupBy('type').execute();
      return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
    },
    async eraseCustomer(customerId, pseudonym, scrubDecision) {
      const subject = customerSubject(customerId);
      return db.transaction().execute(async (trx) => {
        // Devices seen with this customer are personal data too: their anonymous subjects go with it.
        const devices = await trx.selectFrom('decisions').select('anonymous_id').distinct().where('customer_id', '=', customerId).where('anonymous_id', 'is not', null).execute();
        const subjects = [subject, ...devices.map((d) => anonymousSubject(d.anonymous_id!))];
        const gone = await trx.deleteFrom('customers').where('id', '=', customerId).executeTakeFirst();
        const feats = await trx.deleteFrom('customer_features').where('subject_id', 'in', subjects).executeTakeFirst();
        await trx.deleteFrom('subjects').where('id', 'in', subjects).execute();
        const ev = await trx
          .updateTable('events')
          .set({ subject_id: pseudonym, customer_id: null, session_id: null, body: sql<string>`'{}'` })
          .where('subject_id', 'in', subjects)
          .executeTakeFirst();
        await trx.updateTable('orders').set({ subject_id: pseudonym, customer_id: null }).where('subject_id', 'in', subjects).execute();
        // Held-back refunds are whole event rows of the customer's: never counted, so simply gone.
        await trx.deleteFrom('event_quarantine').where('subject_id', 'in', subjects).execute();
        const iss = await trx
          .updateTable('issuances')
          // A coupon code is a bearer credential the customer was sent: personal, and it goes.
          .set({ subject_id: pseudonym, customer_id: null, code: null })
          .where((eb) => eb.or([eb('subject_id', 'in', subjects), eb('customer_id', '=', customerId)]))
          .executeTakeFirst();
        // The fingerprint digests the customer id and cart: it goes too (a resend then conflicts).
        await trx
          .updateTable('redemptions')
          .set({ subject_id: pseudonym, customer_id: null, fingerprint: null })
          .where((eb) => eb.or([eb('subject_id', 'in', subjects), eb('customer_id', '=', customerId)]))
          .execute();
        const decisions = await trx
          .selectFrom('decisions')
          .select(['id', 'body'])
          .where((eb) => eb.or([eb('subject_id', 'in', subjects), eb('customer_id', '=', customerId)]))
          .execute();
        for (const d of decisions) {
          // request_id embeds the subject id (idempotency key scope); it is personal data too.
          await trx
            .updateTable('decisions')
            .set({ subject_id: pseudonym, customer_id: null, anonymous_id: null, request_id: null, body: scrubDecision(d.body) })
            .where('id', '=', d.id)
            .execute();
        }
        return Number(gone.numDeletedRows) + Number(feats.numDeletedRows) + Number(ev.numUpdatedRows) + Number(iss.numUpdatedRows) + decisions.length > 0;
      });
    },
  };
}
