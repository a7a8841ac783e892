import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from './schema.js';

/** The dimension a measurement groups sessions by, besides customer and arm. */
export type MeasureDimension = 'none' | 'placement' | 'channel' | 'offer_key' | 'fine';

/** Separates placement, channel and offer key in a 'fine' dimension key. */
export const FINE_SEP = '\u0001';

/** Separates the sessions' cells (placement, channel and offer key joined by FINE_SEP) in the breakdown read. */
const CELL_SEP = '\u0002';

/** The breakdowns of the one-pass read, in the order of a cell's values. */
const DIMS: BreakdownDim[] = ['placement', 'channel', 'offer_key', 'offer'];

/** "ofr_a@10+ofr_b" → "ofr_a+ofr_b": an offer key without its values ('' stays ''). */
export const offerIdsOfKey = (key: string) => key.split('+').map((k) => k.split('@')[0]).join('+');

/** The campaign id a program-level (global holdout) comparison reports its units under. */
export const PROGRAM = '(program)';

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
  /**
   * Order margin (subtotal − discount − cost of goods) minus offer costs beyond the discount
   * (points, gifts, financing fees), net of refunds (the whole amount) and returns (their share
   * of the order's margin: the goods come back).
   */
  cm: number;
  /** Refunded and returned amounts (already taken off revenue and cm). */
  refunded: number;
  discount: number;
  /** Offer costs beyond the discount, and loyalty points awarded. */
  extraCost: number;
  points: number;
  redemptions: number;
}

/** Per arm, campaign and dimension value: units (customer × value), their sessions and sessions². */
export interface MomentRow {
  holdout: boolean;
  campaignId: string;
  key: string | null;
  units: number;
  sessions: number;
  sessionsSq: number;
}

export interface MeasureQuery {
  campaignId: string | null;
  /**
   * Which randomization the arms come from: each campaign's holdout (sessions of customers in
   * the program-level holdout are left out), or the program-level holdout against everyone else.
   */
  arm?: 'campaign' | 'global';
  from: number;
  to: number;
  dimension: MeasureDimension;
}

/** The breakdowns read in one pass: by placement, channel, offer and value, and offer whatever its value. */
export type BreakdownDim = 'placement' | 'channel' | 'offer_key' | 'offer';

/** One customer's sessions in one arm (and campaign): for customer attributes such as the cohort. */
export interface CustomerSessions {
  subject: string;
  holdout: boolean;
  campaignId: string;
  sessions: number;
}

/** A customer (in one arm and campaign) with outcomes, while the breakdowns are read. */
interface Buyer {
  holdout: boolean;
  campaignId: string;
  sessions: number;
  /** Per breakdown (DIMS order): value → the customer's sessions there. */
  counts: Array<Map<string, number>>;
  /** Per breakdown, then the customer as a whole: value → the unit its outcomes are summed into. */
  units: Array<Map<string, UnitRow>>;
}

/** Reads for incrementality reports, shared by both dialects. */
export interface MeasureReads {
  /** Session moments per arm, campaign and dimension value. */
  measureMoments(q: MeasureQuery): Promise<MomentRow[]>;
  /** Full rows for the units with an order or redemption. */
  measureOutcomes(q: MeasureQuery): Promise<UnitRow[]>;
  /** Offers shown per arm (holdout: would have been shown), counting each offer of a stacked decision. */
  measureOffersShown(q: Omit<MeasureQuery, 'dimension'>): Promise<{ treatment: number; holdout: number }>;
  /** Session moments per placement, channel and offer key, and the units with outcomes at the finest grain (key: placement, channel, offer key joined by FINE_SEP). */
  measureBreakdowns(q: Omit<MeasureQuery, 'dimension'>): Promise<{
    moments: Record<BreakdownDim, MomentRow[]>;
    /** Units with outcomes per breakdown ('none': per customer), each with all of its sessions. */
    outcomes: Record<BreakdownDim | 'none', UnitRow[]>;
    perCustomer: CustomerSessions[];
  }>;
  /** Each subject's last order before `before` (for the pre-window cohort). */
  lastOrdersBefore(before: number): Promise<Map<string, number>>;
  /** Records an automatic guard action (a stop-loss pause) with its evidence. */
  logGuardAction(row: DB['campaign_guard_log']): Promise<void>;
  guardLog(campaignId: string): Promise<Array<DB['campaign_guard_log']>>;
}

const n = (x: unknown) => (x === null || x === undefined ? 0 : Number(x));

/** The measurement reads over Kysely. */
export function createMeasureReads(db: Kysely<DB>, dialect: 'sqlite' | 'postgres'): MeasureReads {
  const DAY = 86_400_000;
  const lastOrdersBefore = async (before: number) => {
    const rows = await db.selectFrom('orders').select(['subject_id', sql<number>`max(occurred_at)`.as('last')]).where('occurred_at', '<', before).groupBy('subject_id').execute();
    return new Map(rows.map((r) => [r.subject_id, n(r.last)]));
  };
  const dim = (q: MeasureQuery) =>
    q.dimension === 'none'
      ? sql<string | null>`null`
      : q.dimension === 'fine'
        ? sql<string | null>`d.placement || ${FINE_SEP} || d.channel || ${FINE_SEP} || coalesce(d.offer_key, '')`
        : sql<string | null>`d.${sql.ref(q.dimension)}`;
  /** The program-level comparison pools every campaign: its unit is the customer, whichever campaigns they saw. */
  const cmp = (q: MeasureQuery) => (q.arm === 'global' ? sql<string>`${sql.lit(PROGRAM)}` : sql<string>`d.campaign_id`);
  // A constant cannot be a GROUP BY term on PostgreSQL: the program-level grouping leaves it out.
  const unitGroups = (q: MeasureQuery) => (q.arm === 'global' ? ['d.subject_id', arm(q), sql`k`] : ['d.subject_id', arm(q), 'd.campaign_id', sql`k`]) as never[];
  const arm = (q: MeasureQuery) => (q.arm === 'global' ? sql<number>`d.global_holdout` : sql<number>`d.holdout`);
  const scope = <T extends { where: (...a: any[]) => T }>(qb: T, q: MeasureQuery): T => {
    let b = qb.where('d.created_at', '>=', q.from).where('d.created_at', '<', q.to);
    if (q.arm !== 'global') b = b.where('d.global_holdout', '=', 0);
    b = q.campaignId === null ? b.where('d.campaign_id', 'is not', null) : b.where('d.campaign_id', '=', q.campaignId);
    return b;
  };
  /**
   * Units per customer, arm, campaign and dimension value. `sessions: false` skips counting
   * their sessions (the caller has them from another read): the units then come from the
   * outcome rows alone, with 0 sessions.
   */
  const units = async (q: MeasureQuery, onlyWithOutcomes: boolean, opts: { sessions?: boolean } = {}): Promise<UnitRow[]> => {
      const k = dim(q);
      let sq = scope(
        db.selectFrom('decisions as d')
          .select(['d.subject_id as subject', arm(q).as('holdout'), cmp(q).as('campaign_id'), k.as('k'), sql<number>`count(*)`.as('sessions')])
          .groupBy(unitGroups(q)),
        q,
      );
      if (onlyWithOutcomes) {
        sq = sq.where('d.subject_id', 'in', scope(db.selectFrom('orders as o').innerJoin('decisions as d', 'd.id', 'o.decision_id').select('d.subject_id'), q));
      }
      // Independent reads: on PostgreSQL they run on separate pooled connections at once.
      const [sessions, orders, redemptions, refunds] = await Promise.all([opts.sessions === false ? Promise.resolve([]) : sq.execute(), scope(
        db.selectFrom('orders as o').innerJoin('decisions as d', 'd.id', 'o.decision_id')
          .select([
            'd.subject_id as subject',
            arm(q).as('holdout'),
            cmp(q).as('campaign_id'),
            k.as('k'),
            sql<number>`count(*)`.as('orders'),
            sql<number>`sum(o.subtotal + o.shipping - o.discount)`.as('revenue'),
            sql<number>`sum(o.margin)`.as('margin'),
            sql<number>`sum(o.discount)`.as('discount'),
          ])
          .groupBy(unitGroups(q)),
        q,
      ).execute(),
      scope(
        db.selectFrom('redemptions as r').innerJoin('orders as o', 'o.order_id', 'r.order_id').innerJoin('decisions as d', 'd.id', 'o.decision_id')
          .where('r.status', '=', 'applied')
          .select([
            'd.subject_id as subject',
            arm(q).as('holdout'),
            cmp(q).as('campaign_id'),
            k.as('k'),
            sql<number>`count(*)`.as('redemptions'),
            sql<number>`sum(r.cost - r.discount)`.as('extra'),
            sql<number>`sum(r.points)`.as('points'),
          ])
          .groupBy(unitGroups(q)),
        q,
      ).execute(),
        scope(
          db
            .selectFrom('events as e')
            .innerJoin('orders as o', 'o.order_id', 'e.order_id')
            .innerJoin('decisions as d', 'd.id', 'o.decision_id')
            .where('e.type', 'in', ['refund', 'return'])
            .select([
              'd.subject_id as subject',
              arm(q).as('holdout'),
              cmp(q).as('campaign_id'),
              k.as('k'),
              sql<number>`sum(e.amount)`.as('refunded'),
              sql<number>`sum(case when e.type = 'refund' then e.amount else e.amount * o.margin * 1.0 / (case when o.subtotal - o.discount > 0 then o.subtotal - o.discount else 1 end) end)`.as('cm_lost'),
            ])
            .groupBy(unitGroups(q)),
          q,
        ).execute(),
      ]);
      const byUnit = new Map<string, UnitRow>();
      const id = (r: { subject: string; holdout: unknown; campaign_id: string | null; k: string | null }) => `${r.subject}\u0000${n(r.holdout)}\u0000${r.campaign_id}\u0000${r.k ?? ''}`;
      // Every outcome row's decision is in scope, so its unit is among the session rows when they are read.
      const unit = (r: { subject: string; holdout: unknown; campaign_id: string | null; k: string | null }) => {
        const key = id(r);
        let u = byUnit.get(key);
        if (!u) {
          byUnit.set(key, (u = { subject: r.subject, holdout: n(r.holdout) === 1, campaignId: r.campaign_id!, key: r.k ?? null, sessions: 0, orders: 0, revenue: 0, cm: 0, discount: 0, extraCost: 0, points: 0, redemptions: 0, refunded: 0 }));
        }
        return u;
      };
      for (const r of sessions) unit(r).sessions = n(r.sessions);
      for (const r of orders) {
        const u = unit(r);
        u.orders = n(r.orders);
        u.revenue = n(r.revenue);
        u.cm += n(r.margin);
        u.discount = n(r.discount);
      }
      for (const r of redemptions) {
        const u = unit(r);
        u.redemptions = n(r.redemptions);
        u.extraCost = n(r.extra);
        u.points = n(r.points);
        u.cm -= n(r.extra);
      }
      for (const r of refunds) {
        const u = unit(r);
        u.refunded = n(r.refunded);
        u.revenue -= u.refunded;
        u.cm -= Math.round(n(r.cm_lost));
      }
      const all = [...byUnit.values()];
      return onlyWithOutcomes ? all.filter((u) => u.orders > 0 || u.redemptions > 0) : all;
  };
  const momentsOf = async (q: MeasureQuery): Promise<MomentRow[]> => {
      const k = dim(q);
      const inner = scope(
        db.selectFrom('decisions as d')
          .select(['d.subject_id', arm(q).as('holdout'), cmp(q).as('campaign_id'), k.as('k'), sql<number>`count(*)`.as('n')])
          .groupBy(unitGroups(q)),
        q,
      );
      const moments = await db
        .selectFrom(inner.as('u'))
        .select(['u.holdout', 'u.campaign_id', 'u.k', sql<number>`count(*)`.as('units'), sql<number>`sum(u.n)`.as('sessions'), sql<number>`sum(u.n * u.n)`.as('sessions_sq')])
        .groupBy(['u.holdout', 'u.campaign_id', 'u.k'])
        .execute();
      return moments.map((r) => ({ holdout: n(r.holdout) === 1, campaignId: r.campaign_id!, key: r.k ?? null, units: n(r.units), sessions: n(r.sessions), sessionsSq: n(r.sessions_sq) }));
  };
  return {
    async measureBreakdowns(query) {
      // One read of the index, one row per customer (and arm, campaign): sessions, and the
      // placement, channel and offer of each session concatenated. The three breakdowns' session
      // moments are counted from it here instead of three more groupings of every session
      // (measured on 1M sessions on SQLite: 2.2 s → see BENCHMARKS.md).
      const q: MeasureQuery = { ...query, dimension: 'none' };
      const agg = (col: RawBuilder<string>) => (dialect === 'postgres' ? sql<string>`string_agg(${col}, chr(2))` : sql<string>`group_concat(${col}, char(2))`);
      const [rows, outcomes] = await Promise.all([
        scope(
          db
            .selectFrom('decisions as d')
            .select([
              'd.subject_id as subject',
              arm(q).as('holdout'),
              cmp(q).as('campaign_id'),
              sql<number>`count(*)`.as('sessions'),
              // One aggregate of the session's cell (placement, channel, offer) rather than three.
              agg(sql<string>`d.placement || ${sql.lit(FINE_SEP)} || d.channel || ${sql.lit(FINE_SEP)} || coalesce(d.offer_key, '')`).as('cells'),
            ])
            .groupBy(unitGroups(q).slice(0, -1)),
          q,
        ).execute(),
        // Buyers' sessions per value come from the aggregate above, not from a second grouping.
        units({ ...q, dimension: 'fine' }, true, { sessions: false }),
      ]);
      // Buyers' session counts per value, so each outcome unit carries all of its sessions (the
      // outcome rows hold only the cells where something was bought).
      // Looked up by subject (flat strings from the driver) rather than by a composed key.
      const buyers = new Map<string, Buyer[]>();
      const buyerOf = (subject: string, holdout: boolean, campaignId: string) => buyers.get(subject)?.find((b) => b.holdout === holdout && b.campaignId === campaignId);
      const prepared = outcomes.map((u) => {
        let b = buyerOf(u.subject, u.holdout, u.campaignId);
        if (!b) {
          b = { holdout: u.holdout, campaignId: u.campaignId, sessions: 0, counts: [], units: [] };
          buyers.set(u.subject, [...(buyers.get(u.subject) ?? []), b]);
        }
        return { u, buyer: b, values: null as string[] | null };
      });
      // A cell's value in each breakdown (DIMS order), worked out once per distinct cell: a
      // million sessions hold only as many cells as placements × channels × offer keys.
      const cellValues = new Map<string, string[]>();
      const valuesOf = (cell: string) => {
        let v = cellValues.get(cell);
        if (!v) {
          const [placement = '', channel = '', offerKey = ''] = cell.split(FINE_SEP);
          // By offer whatever its value: one unit per customer and offer, not per value.
          cellValues.set(cell, (v = [placement, channel, offerKey, offerIdsOfKey(offerKey)]));
        }
        return v;
      };
      const keyOf = (d: number, value: string) => (d >= 2 && value === '' ? null : value);
      const perCustomer: CustomerSessions[] = [];
      // Per arm and campaign (rows arrive grouped by them): per breakdown, value → moments.
      const groups = new Map<string, Array<Map<string, MomentRow>>>();
      let groupKey: string | null = null;
      let group: Array<Map<string, MomentRow>> = [];
      // One customer's distinct values in one breakdown and their session counts (a handful: a
      // linear scan beats a map).
      const values: string[] = [];
      const counts: number[] = [];
      let cells: string[][] = [];
      for (const r of rows) {
        const holdout = n(r.holdout) === 1;
        const campaignId = r.campaign_id;
        const sessions = n(r.sessions);
        perCustomer.push({ subject: r.subject, holdout, campaignId, sessions });
        const buyer = buyers.size > 0 ? buyerOf(r.subject, holdout, campaignId) : undefined;
        if (buyer) buyer.sessions = sessions;
        cells = r.cells.split(CELL_SEP).map(valuesOf);
        if (groupKey !== `${holdout}\u0000${campaignId}`) {
          groupKey = `${holdout}\u0000${campaignId}`;
          group = groups.get(groupKey) ?? DIMS.map(() => new Map());
          groups.set(groupKey, group);
        }
        for (let d = 0; d < DIMS.length; d++) {
          values.length = 0;
          counts.length = 0;
          for (const cell of cells) {
            const i = values.indexOf(cell[d]!);
            if (i < 0) {
              values.push(cell[d]!);
              counts.push(1);
            } else counts[i]!++;
          }
          for (let i = 0; i < values.length; i++) {
            let m = group[d]!.get(values[i]!);
            if (!m) group[d]!.set(values[i]!, (m = { holdout, campaignId, key: keyOf(d, values[i]!), units: 0, sessions: 0, sessionsSq: 0 }));
            const c = counts[i]!;
            m.units++;
            m.sessions += c;
            m.sessionsSq += c * c;
          }
          if (buyer) buyer.counts[d] = new Map(values.map((v, i) => [v, counts[i]!]));
        }
      }
      // Outcome cells summed up to each breakdown's unit (d: index in DIMS; null: the customer).
      for (const p of prepared) p.values = valuesOf(p.u.key ?? '');
      const rollUp = (d: number | null): UnitRow[] => {
        const out: UnitRow[] = [];
        const slot = d === null ? DIMS.length : d;
        for (const { u, buyer, values } of prepared) {
          const value = d === null ? '' : values![d]!;
          const m = (buyer.units[slot] ??= new Map());
          const x = m.get(value);
          if (!x) {
            const sessions = (d === null ? buyer.sessions : buyer.counts[d]?.get(value)) ?? 0;
            const key = d === null ? null : keyOf(d, value);
            const row: UnitRow = { subject: u.subject, holdout: u.holdout, campaignId: u.campaignId, key, sessions, orders: u.orders, revenue: u.revenue, cm: u.cm, refunded: u.refunded, discount: u.discount, extraCost: u.extraCost, points: u.points, redemptions: u.redemptions };
            m.set(value, row);
            out.push(row);
          } else {
            x.orders += u.orders;
            x.revenue += u.revenue;
            x.cm += u.cm;
            x.discount += u.discount;
            x.extraCost += u.extraCost;
            x.points += u.points;
            x.redemptions += u.redemptions;
            x.refunded += u.refunded;
          }
        }
        return out;
      };
      const moments = (d: number) => [...groups.values()].flatMap((g) => [...g[d]!.values()]);
      return {
        moments: { placement: moments(0), channel: moments(1), offer_key: moments(2), offer: moments(3) },
        outcomes: { none: rollUp(null), placement: rollUp(0), channel: rollUp(1), offer_key: rollUp(2), offer: rollUp(3) },
        perCustomer,
      };
    },
    measureMoments: (q) => momentsOf(q),
    measureOutcomes: (q) => units(q, true),
    async measureOffersShown(query) {
      const q: MeasureQuery = { ...query, dimension: 'none' };
      const rows = await scope(
        db
          .selectFrom('decisions as d')
          .where('d.offer_key', 'is not', null)
          .select([arm(q).as('holdout'), sql<number>`sum(length(d.offer_key) - length(replace(d.offer_key, '+', '')) + 1)`.as('offers')])
          .groupBy(arm(q) as never),
        q,
      ).execute();
      return { treatment: n(rows.find((r) => n(r.holdout) === 0)?.offers), holdout: n(rows.find((r) => n(r.holdout) === 1)?.offers) };
    },
    lastOrdersBefore,
    async logGuardAction(row) {
      await db.insertInto('campaign_guard_log').values(row).execute();
    },
    async guardLog(campaignId) {
      const rows = await db.selectFrom('campaign_guard_log').selectAll().where('campaign_id', '=', campaignId).orderBy('at', 'asc').execute();
      return rows.map((r) => ({ ...r, at: n(r.at) }));
    },
  };
}
