import { sql, type CompiledQuery, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from './schema.js';
import { FINE_SEP, offerIdsOfKey, PROGRAM, type BreakdownDim, type CustomerSessions, type GuardLog, type IssuedOffers, type MeasureQuery, type MeasureReads, type MomentRow, type UnitRow } from '../measure/port.js';

/**
 * Separates the sessions' cells (placement, channel and offer key joined by FINE_SEP) in the
 * breakdown read. Reports read campaign decisions only, whose placements are campaign slugs and
 * whose channels an enum, so neither separator occurs inside a value.
 */
const CELL_SEP = '\u0002';

/** The breakdowns of the one-pass read, in the order of a cell's values. */
const DIMS: BreakdownDim[] = ['placement', 'channel', 'offer_key', 'offer'];

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

const n = (x: unknown) => (x === null || x === undefined ? 0 : Number(x));

/** How a dialect hands over a large result row by row (by default: run it, then go through the rows). */
export interface MeasureReadsOptions {
  eachRow?: (query: CompiledQuery, onRow: (row: never) => void) => Promise<void>;
}

/** The measurement reads over Kysely. */
export function createMeasureReads(db: Kysely<DB>, dialect: 'sqlite' | 'postgres', opts: MeasureReadsOptions = {}): MeasureReads & GuardLog {
  const eachRow =
    opts.eachRow ??
    (async (query: CompiledQuery, onRow: (row: never) => void) => {
      for (const row of (await db.executeQuery(query)).rows) onRow(row as never);
    });
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
   * The units (customer, arm, campaign and dimension value) with an order, and their outcomes.
   * `sessions: false` skips counting their sessions (the caller has them from another read): the
   * units then carry 0 sessions.
   */
  const units = async (q: MeasureQuery, opts: { sessions?: boolean } = {}): Promise<UnitRow[]> => {
    const k = dim(q);
    const sessionsRead = scope(
      db
        .selectFrom('decisions as d')
        .select(['d.subject_id as subject', arm(q).as('holdout'), cmp(q).as('campaign_id'), k.as('k'), sql<number>`count(*)`.as('sessions')])
        .where('d.subject_id', 'in', scope(db.selectFrom('orders as o').innerJoin('decisions as d', 'd.id', 'o.decision_id').select('d.subject_id'), q))
        .groupBy(unitGroups(q)),
      q,
    );
    // One pass over the orders (an order has at most one redemption), so the decisions are
    // joined once rather than once per kind of outcome.
    const outcomesRead = scope(
      db
        .selectFrom('orders as o')
        .innerJoin('decisions as d', 'd.id', 'o.decision_id')
        .leftJoin('redemptions as r', (j) => j.onRef('r.order_id', '=', 'o.order_id').on('r.status', '=', 'applied'))
        .select([
          'd.subject_id as subject',
          arm(q).as('holdout'),
          cmp(q).as('campaign_id'),
          k.as('k'),
          sql<number>`count(*)`.as('orders'),
          sql<number>`sum(o.subtotal + o.shipping - o.discount)`.as('revenue'),
          sql<number>`sum(o.margin)`.as('margin'),
          sql<number>`sum(o.discount)`.as('discount'),
          sql<number>`count(r.id)`.as('redemptions'),
          sql<number>`sum(r.cost - r.discount)`.as('extra'),
          sql<number>`sum(r.points)`.as('points'),
          // Refunds and returns of the order, looked up per order (few orders have any; a joined
          // aggregate of them made SQLite drive the join from every decision instead of the orders).
          sql<number>`sum((select sum(e.amount) from events e where e.order_id = o.order_id and e.type in ('refund', 'return')))`.as('refunded'),
          // A refund takes its whole amount off the margin; a return its share of the goods' margin.
          sql<number>`sum((select sum(case when e.type = 'refund' then e.amount else e.amount * o.margin * 1.0 / (case when o.subtotal - o.discount > 0 then o.subtotal - o.discount else 1 end) end) from events e where e.order_id = o.order_id and e.type in ('refund', 'return')))`.as('cm_lost'),
        ])
        .groupBy(unitGroups(q)),
      q,
    );
    // Independent reads: on PostgreSQL they run on separate pooled connections at once.
    const [sessions, outcomes] = await Promise.all([opts.sessions === false ? Promise.resolve([]) : sessionsRead.execute(), outcomesRead.execute()]);
    const id = (r: { subject: string; holdout: unknown; campaign_id: string | null; k: string | null }) => `${r.subject}\u0000${n(r.holdout)}\u0000${r.campaign_id}\u0000${r.k ?? ''}`;
    const sessionsOf = new Map(sessions.map((r) => [id(r), n(r.sessions)]));
    return outcomes.map((r) => {
      const refunded = n(r.refunded);
      return {
        subject: r.subject,
        holdout: n(r.holdout) === 1,
        campaignId: r.campaign_id!,
        key: r.k ?? null,
        // Every order's decision is in scope, so its unit is among the session rows when they are read.
        sessions: sessionsOf.get(id(r)) ?? 0,
        orders: n(r.orders),
        revenue: n(r.revenue) - refunded,
        cm: n(r.margin) - n(r.extra) - Math.round(n(r.cm_lost)),
        refunded,
        discount: n(r.discount),
        extraCost: n(r.extra),
        points: n(r.points),
        redemptions: n(r.redemptions),
      };
    });
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
      const perCustomerRead = scope(
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
      ).compile();
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
      // Each customer's cells and where they are in perCustomer, for the buyers' counts afterwards.
      const cellsOf: string[] = [];
      const rowsOf = new Map<string, number | number[]>();
      // Per arm and campaign: each breakdown's moments by value, and each distinct cell's values
      // with their moments rows, so a session costs one lookup of its cell and no more.
      interface Group {
        moments: Array<Map<string, MomentRow>>;
        cells: Map<string, { values: string[]; moments: MomentRow[] }>;
      }
      const groups = new Map<string, Group>();
      const cellOf = (g: Group, cell: string, holdout: boolean, campaignId: string) => {
        let c = g.cells.get(cell);
        if (!c) {
          const values = valuesOf(cell);
          const moments = values.map((v, d) => {
            let m = g.moments[d]!.get(v);
            if (!m) g.moments[d]!.set(v, (m = { holdout, campaignId, key: keyOf(d, v), units: 0, sessions: 0, sessionsSq: 0 }));
            return m;
          });
          g.cells.set(cell, (c = { values, moments }));
        }
        return c;
      };
      let groupKey: string | null = null;
      let group: Group = { moments: [], cells: new Map() };
      // One customer's cells, and per breakdown their distinct values' moments and session counts
      // (a handful: a linear scan beats a map).
      const cells: Array<{ values: string[]; moments: MomentRow[] }> = [];
      const seen: MomentRow[] = [];
      const counts: number[] = [];
      const onRow = (r: { subject: string; holdout: unknown; campaign_id: string; sessions: unknown; cells: string }) => {
        const holdout = n(r.holdout) === 1;
        const campaignId = r.campaign_id;
        const i = perCustomer.push({ subject: r.subject, holdout, campaignId, sessions: n(r.sessions) }) - 1;
        cellsOf.push(r.cells);
        const at = rowsOf.get(r.subject);
        if (at === undefined) rowsOf.set(r.subject, i);
        else if (typeof at === 'number') rowsOf.set(r.subject, [at, i]);
        else at.push(i);
        if (groupKey !== `${holdout}\u0000${campaignId}`) {
          groupKey = `${holdout}\u0000${campaignId}`;
          let g = groups.get(groupKey);
          if (!g) groups.set(groupKey, (g = { moments: DIMS.map(() => new Map()), cells: new Map() }));
          group = g;
        }
        cells.length = 0;
        for (const cell of r.cells.split(CELL_SEP)) cells.push(cellOf(group, cell, holdout, campaignId));
        for (let d = 0; d < DIMS.length; d++) {
          seen.length = 0;
          counts.length = 0;
          for (const c of cells) {
            const m = c.moments[d]!;
            const k = seen.indexOf(m);
            if (k < 0) {
              seen.push(m);
              counts.push(1);
            } else counts[k]!++;
          }
          for (let k = 0; k < seen.length; k++) {
            const m = seen[k]!;
            const c = counts[k]!;
            m.units++;
            m.sessions += c;
            m.sessionsSq += c * c;
          }
        }
      };
      const [, outcomes] = await Promise.all([
        eachRow(perCustomerRead, onRow as (row: never) => void),
        // Buyers' sessions per value come from the aggregate above, not from a second grouping.
        units({ ...q, dimension: 'fine' }, { sessions: false }),
      ]);
      // Buyers' session counts per value, so each outcome unit carries all of its sessions (the
      // outcome rows hold only the cells where something was bought).
      const buyers = new Map<string, Buyer>();
      const prepared = outcomes.map((u) => {
        const id = `${u.subject}\u0000${u.holdout}\u0000${u.campaignId}`;
        let b = buyers.get(id);
        if (!b) {
          b = { holdout: u.holdout, campaignId: u.campaignId, sessions: 0, counts: [], units: [] };
          buyers.set(id, b);
          const at = rowsOf.get(u.subject);
          const i = (typeof at === 'number' ? [at] : (at ?? [])).find((k) => perCustomer[k]!.holdout === u.holdout && perCustomer[k]!.campaignId === u.campaignId);
          if (i !== undefined) {
            b.sessions = perCustomer[i]!.sessions;
            const values = cellsOf[i]!.split(CELL_SEP).map(valuesOf);
            b.counts = DIMS.map((_, d) => {
              const byValue = new Map<string, number>();
              for (const v of values) byValue.set(v[d]!, (byValue.get(v[d]!) ?? 0) + 1);
              return byValue;
            });
          }
        }
        return { u, buyer: b, values: null as string[] | null };
      });
      // Outcome cells summed up to each breakdown's unit (d: index in DIMS; null: the customer).
      for (const p of prepared) p.values = valuesOf(p.u.key ?? '');
      const rollUp = (d: number | null): UnitRow[] => {
        const out: UnitRow[] = [];
        const slot = d === null ? DIMS.length : d;
        for (const { u, buyer, values: cellVals } of prepared) {
          const value = d === null ? '' : cellVals![d]!;
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
      const moments = (d: number) => [...groups.values()].flatMap((g) => [...g.moments[d]!.values()]);
      return {
        moments: { placement: moments(0), channel: moments(1), offer_key: moments(2), offer: moments(3) },
        outcomes: { none: rollUp(null), placement: rollUp(0), channel: rollUp(1), offer_key: rollUp(2), offer: rollUp(3) },
        perCustomer,
      };
    },
    measureMoments: (q) => momentsOf(q),
    measureOutcomes: (q) => units(q),
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
    async measureIssued(q, now) {
      // An offer is issued at its decision's time, so the decisions' window and campaign select
      // their issues; the program-level holdout issues nothing. One pass, grouped by offer only
      // (a grouping by offer and state sorts every issue: measured 1.0 → 0.5 s over 900k on SQLite).
      // Naming every offer lets the issued-at range be read from the (offer, issued_at) index
      // rather than every issue ever made (no index leads with the campaign or the time).
      const offers = (await db.selectFrom('offers').select('id').execute()).map((o) => o.id);
      if (offers.length === 0) return [];
      const inScope = <T extends { where: (...a: any[]) => T }>(qb: T): T => {
        const b = qb.where('i.offer_id', 'in', offers).where('i.issued_at', '>=', q.from).where('i.issued_at', '<', q.to);
        return q.campaignId === null ? b : b.where('i.campaign_id', '=', q.campaignId);
      };
      const expired = sql`(i.status = 'expired' or (i.status = 'issued' and i.expires_at <= ${now}))`;
      const open = sql`(i.status = 'issued' and i.expires_at > ${now})`;
      const rows = await inScope(
        db.selectFrom('issuances as i').select([
          'i.offer_id',
          sql<number>`count(*)`.as('issued'),
          sql<number>`sum(case when i.status = 'redeemed' then 1 else 0 end)`.as('redeemed'),
          sql<number>`sum(case when ${expired} then 1 else 0 end)`.as('expired'),
          sql<number>`sum(case when ${expired} then i.cost else 0 end)`.as('breakage'),
          sql<number>`sum(case when ${open} then 1 else 0 end)`.as('open'),
          sql<number>`sum(case when ${open} then i.cost else 0 end)`.as('open_liability'),
        ]),
      )
        .groupBy('i.offer_id')
        .execute();
      return rows.map((r) => ({
        offerId: r.offer_id,
        issued: n(r.issued),
        redeemed: n(r.redeemed),
        expired: n(r.expired),
        breakage: n(r.breakage),
        open: n(r.open),
        openLiability: n(r.open_liability),
      }));
    },
    lastOrdersBefore,
    async logGuardAction(entry) {
      await db.insertInto('campaign_guard_log').values({ id: entry.id, campaign_id: entry.campaignId, at: entry.at, action: entry.action, evidence: entry.evidence }).execute();
    },
    async guardLog(campaignId) {
      const rows = await db.selectFrom('campaign_guard_log').selectAll().where('campaign_id', '=', campaignId).orderBy('at', 'asc').execute();
      return rows.map((r) => ({ id: r.id, campaignId: r.campaign_id, at: n(r.at), action: r.action, evidence: r.evidence }));
    },
  };
}
