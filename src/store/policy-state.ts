import { sql, type Kysely } from 'kysely';
import type { LearningPort, StoredPolicyState } from '../learning/port.js';
import type { DB } from './schema.js';

/** Policy state rows, written once over Kysely for every dialect (they change rarely: learners write, decisions read a cached copy). */
export function createPolicyStateStore(db: Kysely<DB>): LearningPort {
  return {
    async readPolicyStates(): Promise<StoredPolicyState[]> {
      const rows = await db.selectFrom('policy_state').selectAll().execute();
      return rows.map((r) => ({ campaignId: r.campaign_id, version: Number(r.version), state: JSON.parse(r.state) as unknown, updatedAt: Number(r.updated_at) }));
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
  };
}
