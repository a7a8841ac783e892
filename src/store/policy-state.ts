import { sql, type Kysely } from 'kysely';
import type { LearningPort, LearningRow, StoredPolicyState } from '../learning/port.js';
import { unpackTrace } from '../core/log-codec.js';
import type { DB } from './schema.js';

const n = (x: unknown) => (x === null || x === undefined ? 0 : Number(x));

/**
 * Policy state and learner statistics, written once over Kysely for every dialect (they change
 * rarely: learners write, decisions read a cached copy). `readCounters` comes from the store.
 */
export function createPolicyStateStore(db: Kysely<DB>): Omit<LearningPort, 'readCounters'> {
  return {
    async readPolicyStateVersions() {
      const rows = await db.selectFrom('policy_state').select(['campaign_id', 'version']).execute();
      return rows.map((r) => ({ campaignId: r.campaign_id, version: Number(r.version) }));
    },

    async readPolicyState(campaignId) {
      const r = await db.selectFrom('policy_state').selectAll().where('campaign_id', '=', campaignId).executeTakeFirst();
      return r ? { campaignId: r.campaign_id, version: Number(r.version), state: JSON.parse(r.state) as unknown, updatedAt: Number(r.updated_at) } : null;
    },

    async writePolicyState(campaignId, state, at) {
      // One statement: concurrent writers each get their own version, none lost.
      const r = await db
        .insertInto('policy_state')
        .values({ campaign_id: campaignId, version: 1, state: JSON.stringify(state), updated_at: at })
        .onConflict((oc) =>
          oc.column('campaign_id').doUpdateSet({ version: sql`policy_state.version + 1`, state: (eb) => eb.ref('excluded.state'), updated_at: (eb) => eb.ref('excluded.updated_at') }),
        )
        .returning('version')
        .executeTakeFirstOrThrow();
      return Number(r.version);
    },

    async readLearningRows(campaignId, from, to) {
      // One row per (decision, order it led to); the CM of an order is the reports' (margin less
      // the offer's non-discount cost and what refunds and returns took back). An order the
      // campaign was credited with counts for the subject's latest decision in the campaign before
      // it — not, as attribution credits it, for the decision that issued the token it redeemed: a
      // token held over several visits would otherwise credit its first decision with every later
      // purchase (and the visits that showed it again with none), so an offer kept in a wallet
      // would look several times as persuasive as it is, and "no offer" never can.
      const rows = await db
        .selectFrom('decisions as d')
        .leftJoin('orders as o', (j) =>
          j
            .onRef('o.subject_id', '=', 'd.subject_id')
            .onRef('o.campaign_id', '=', 'd.campaign_id')
            .on('o.decision_id', 'is not', null)
            .onRef('o.occurred_at', '>=', 'd.created_at')
            .on(({ exists, not, selectFrom, or, and }) =>
              not(
                exists(
                  selectFrom('decisions as n')
                    .select(sql<number>`1`.as('one'))
                    .whereRef('n.subject_id', '=', 'd.subject_id')
                    .whereRef('n.campaign_id', '=', 'd.campaign_id')
                    .whereRef('n.created_at', '<=', 'o.occurred_at')
                    .where((w) => or([w('n.created_at', '>', w.ref('d.created_at')), and([w('n.created_at', '=', w.ref('d.created_at')), w('n.id', '>', w.ref('d.id'))])])),
                ),
              ),
            ),
        )
        .leftJoin('events as e', 'e.id', 'o.event_id')
        .leftJoin('redemptions as r', (j) => j.onRef('r.order_id', '=', 'o.order_id').on('r.status', '=', 'applied'))
        .select([
          'd.id',
          'd.created_at',
          'd.holdout',
          'd.probability',
          'd.body',
          'o.order_id',
          'o.margin',
          'e.received_at',
          sql<number>`r.cost - r.discount`.as('extra'),
          sql<number>`(select sum(case when x.type = 'refund' then x.amount else x.amount * o.margin * 1.0 / (case when o.subtotal - o.discount > 0 then o.subtotal - o.discount else 1 end) end) from events x where x.order_id = o.order_id and x.type in ('refund', 'return'))`.as('cm_lost'),
        ])
        .where('d.campaign_id', '=', campaignId)
        .where('d.global_holdout', '=', 0)
        .where('d.created_at', '>', from)
        .where('d.created_at', '<=', to)
        .orderBy('d.created_at')
        .orderBy('d.id')
        .execute();
      const out: LearningRow[] = [];
      let last: LearningRow | null = null;
      for (const r of rows) {
        if (!last || last.decisionId !== r.id) {
          const body = JSON.parse(r.body) as { response?: { policyVersion?: number | null }; log?: { learning?: unknown } };
          last = {
            decisionId: r.id,
            createdAt: n(r.created_at),
            holdout: n(r.holdout) === 1,
            probability: Number(r.probability),
            policyVersion: body.response?.policyVersion ?? null,
            trace: unpackTrace(body.log?.learning ?? null),
            orders: 0,
            cm: 0,
            firstOrderReceivedAt: null,
          };
          out.push(last);
        }
        if (r.order_id !== null) {
          last.orders++;
          last.cm += n(r.margin) - n(r.extra) - Math.round(n(r.cm_lost));
          const at = n(r.received_at);
          if (last.firstOrderReceivedAt === null || at < last.firstOrderReceivedAt) last.firstOrderReceivedAt = at;
        }
      }
      return out;
    },

    async readLearningStats(campaignId) {
      const r = await db.selectFrom('learning_stats').selectAll().where('campaign_id', '=', campaignId).executeTakeFirst();
      return r ? { version: n(r.version), watermark: n(r.watermark), body: JSON.parse(r.body) as unknown } : null;
    },

    async writeLearningStats(campaignId, expected, watermark, body, at) {
      const text = JSON.stringify(body);
      if (expected === 0) {
        const r = await db
          .insertInto('learning_stats')
          .values({ campaign_id: campaignId, version: 1, watermark, body: text, updated_at: at })
          .onConflict((oc) => oc.column('campaign_id').doNothing())
          .executeTakeFirst();
        return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
      }
      const r = await db
        .updateTable('learning_stats')
        .set({ version: expected + 1, watermark, body: text, updated_at: at })
        .where('campaign_id', '=', campaignId)
        .where('version', '=', expected)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
  };
}
