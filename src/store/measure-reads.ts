import { sql, type Kysely } from 'kysely';
import type { DB } from './schema.js';

/** The dimension a measurement groups sessions by, besides customer and arm. */
export type MeasureDimension = 'none' | 'placement' | 'channel' | 'offer_key';

/** One randomization unit's sessions and attributed outcomes: a customer in one arm of one campaign (and one dimension value). */
export interface UnitRow {
  subject: string;
  holdout: boolean;
  campaignId: string;
  key: string | null;
  sessions: number;
  orders: number;
  /** What the shoppers paid: goods after discounts + shipping. */
  revenue: number;
  /** Order margin (subtotal − discount − cost of goods) minus offer costs beyond the discount (points, gifts, financing fees). */
  cm: number;
  discount: number;
  /** Offer costs beyond the discount, and loyalty points awarded. */
  extraCost: number;
  points: number;
  redemptions: number;
}

/** Offers issued per arm and dimension value (for redemption rates). */
export interface IssuedRow {
  holdout: boolean;
  key: string | null;
  issued: number;
}

export interface MeasureQuery {
  campaignId: string | null;
  from: number;
  to: number;
  dimension: MeasureDimension;
}

/** Reads for incrementality reports, shared by both dialects. */
export interface MeasureReads {
  /** Sessions (decisions) in [from, to) and the outcomes attributed to them, per unit. */
  measureUnits(q: MeasureQuery): Promise<UnitRow[]>;
  /** Offers issued by decisions in [from, to), per dimension value. */
  measureIssued(q: MeasureQuery): Promise<IssuedRow[]>;
  /** Each subject's last order before `before` (for the pre-window cohort). */
  lastOrdersBefore(before: number): Promise<Map<string, number>>;
  /** Records an automatic guard action (a stop-loss pause) with its evidence. */
  logGuardAction(row: DB['campaign_guard_log']): Promise<void>;
  guardLog(campaignId: string): Promise<Array<DB['campaign_guard_log']>>;
}

const n = (x: unknown) => (x === null || x === undefined ? 0 : Number(x));

/** The measurement reads over Kysely. */
export function createMeasureReads(db: Kysely<DB>): MeasureReads {
  const dim = (q: MeasureQuery) => (q.dimension === 'none' ? sql<string | null>`null` : sql<string | null>`d.${sql.ref(q.dimension)}`);
  const scope = <T extends { where: (...a: any[]) => T }>(qb: T, q: MeasureQuery): T => {
    let b = qb.where('d.created_at', '>=', q.from).where('d.created_at', '<', q.to);
    b = q.campaignId === null ? b.where('d.campaign_id', 'is not', null) : b.where('d.campaign_id', '=', q.campaignId);
    return b;
  };
  return {
    async measureUnits(q) {
      const k = dim(q);
      const sessions = await scope(
        db
          .selectFrom('decisions as d')
          .select(['d.subject_id as subject', 'd.holdout', 'd.campaign_id', k.as('k'), sql<number>`count(*)`.as('sessions')])
          .groupBy(['d.subject_id', 'd.holdout', 'd.campaign_id', sql`k` as never]),
        q,
      ).execute();
      const orders = await scope(
        db
          .selectFrom('orders as o')
          .innerJoin('decisions as d', 'd.id', 'o.decision_id')
          .select([
            'd.subject_id as subject',
            'd.holdout',
            'd.campaign_id',
            k.as('k'),
            sql<number>`count(*)`.as('orders'),
            sql<number>`sum(o.subtotal + o.shipping - o.discount)`.as('revenue'),
            sql<number>`sum(o.margin)`.as('margin'),
            sql<number>`sum(o.discount)`.as('discount'),
          ])
          .groupBy(['d.subject_id', 'd.holdout', 'd.campaign_id', sql`k` as never]),
        q,
      ).execute();
      const redemptions = await scope(
        db
          .selectFrom('redemptions as r')
          .innerJoin('orders as o', 'o.order_id', 'r.order_id')
          .innerJoin('decisions as d', 'd.id', 'o.decision_id')
          .where('r.status', '=', 'applied')
          .select([
            'd.subject_id as subject',
            'd.holdout',
            'd.campaign_id',
            k.as('k'),
            sql<number>`count(*)`.as('redemptions'),
            sql<number>`sum(r.cost - r.discount)`.as('extra'),
            sql<number>`sum(r.points)`.as('points'),
          ])
          .groupBy(['d.subject_id', 'd.holdout', 'd.campaign_id', sql`k` as never]),
        q,
      ).execute();
      const units = new Map<string, UnitRow>();
      const id = (r: { subject: string; holdout: unknown; campaign_id: string | null; k: string | null }) => `${r.subject}\u0000${n(r.holdout)}\u0000${r.campaign_id}\u0000${r.k ?? ''}`;
      for (const r of sessions) {
        units.set(id(r), {
          subject: r.subject,
          holdout: n(r.holdout) === 1,
          campaignId: r.campaign_id!,
          key: r.k ?? null,
          sessions: n(r.sessions),
          orders: 0,
          revenue: 0,
          cm: 0,
          discount: 0,
          extraCost: 0,
          points: 0,
          redemptions: 0,
        });
      }
      for (const r of orders) {
        const u = units.get(id(r));
        if (!u) continue;
        u.orders = n(r.orders);
        u.revenue = n(r.revenue);
        u.cm += n(r.margin);
        u.discount = n(r.discount);
      }
      for (const r of redemptions) {
        const u = units.get(id(r));
        if (!u) continue;
        u.redemptions = n(r.redemptions);
        u.extraCost = n(r.extra);
        u.points = n(r.points);
        u.cm -= n(r.extra);
      }
      return [...units.values()];
    },
    async measureIssued(q) {
      const rows = await scope(
        db
          .selectFrom('issuances as i')
          .innerJoin('decisions as d', 'd.id', 'i.decision_id')
          .select(['d.holdout', dim(q).as('k'), sql<number>`count(*)`.as('issued')])
          .groupBy(['d.holdout', sql`k` as never]),
        q,
      ).execute();
      return rows.map((r) => ({ holdout: n(r.holdout) === 1, key: r.k ?? null, issued: n(r.issued) }));
    },
    async lastOrdersBefore(before) {
      const rows = await db
        .selectFrom('orders')
        .select(['subject_id', sql<number>`max(occurred_at)`.as('last')])
        .where('occurred_at', '<', before)
        .groupBy('subject_id')
        .execute();
      return new Map(rows.map((r) => [r.subject_id, n(r.last)]));
    },
    async logGuardAction(row) {
      await db.insertInto('campaign_guard_log').values(row).execute();
    },
    async guardLog(campaignId) {
      const rows = await db.selectFrom('campaign_guard_log').selectAll().where('campaign_id', '=', campaignId).orderBy('at', 'asc').execute();
      return rows.map((r) => ({ ...r, at: n(r.at) }));
    },
  };
}
