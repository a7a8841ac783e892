import type { Kysely } from 'kysely';
import { customerSubject } from '../core/subject.js';
import type { OutcomeReads } from './ports.js';
import type { DB } from './schema.js';
import { decisionRefOf, issuanceOf, itemOf, orderOf, redemptionOf } from './outcome-rows.js';

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
    return rows.map((r) => ({ ...redemptionOf(r), items: items.filter((i) => i.redemption_id === r.id).map(itemOf) }));
  };
  return {
    async decisionRefs(ids) {
      if (ids.length === 0) return [];
      const rows = await chunked(ids, (part) =>
        db.selectFrom('decisions').select(['id', 'subject_id', 'campaign_id', 'holdout', 'created_at']).where('id', 'in', part).execute(),
      );
      return rows.map(decisionRefOf);
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
      return rows.map(decisionRefOf).sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
    },
    async issuancesByIds(ids) {
      if (ids.length === 0) return [];
      return (await chunked(ids, (part) => db.selectFrom('issuances').selectAll().where('id', 'in', part).execute())).map(issuanceOf);
    },
    async issuancesByCodes(codes) {
      if (codes.length === 0) return [];
      return (await chunked(codes, (part) => db.selectFrom('issuances').selectAll().where('code', 'in', part).execute())).map(issuanceOf);
    },
    async redemptionsByOrderIds(orderIds) {
      if (orderIds.length === 0) return [];
      return withItems(await chunked(orderIds, (part) => db.selectFrom('redemptions').selectAll().where('order_id', 'in', part).execute()));
    },
    async ordersByIds(orderIds) {
      if (orderIds.length === 0) return [];
      const rows = await chunked(orderIds, (part) => db.selectFrom('orders').selectAll().where('order_id', 'in', part).execute());
      return rows.map(orderOf);
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
      return rows.map(issuanceOf);
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
      return rows.map(issuanceOf);
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
        issued: issued.map((r) => ({ offerId: r.offer_id, day: r.day, count: Number(r.count), liability: Number(r.liability), points: Number(r.points) })),
        moves: moves.map((r) => ({ offerId: r.offer_id, day: r.day, kind: r.kind, count: Number(r.count), liability: Number(r.liability), cost: Number(r.cost), points: Number(r.points) })),
      };
    },
    async eventCounts(subjectId) {
      const rows = await db.selectFrom('events').select(['type']).select((eb) => eb.fn.countAll<number>().as('n')).where('subject_id', '=', subjectId).groupBy('type').execute();
      return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
    },
  };
}
