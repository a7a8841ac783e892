import { Kysely, Migrator, sql, type Migration, type MigrationProvider } from 'kysely';

/**
 * The one migration set for every backend. Forward-only: a migration is never edited after
 * it lands; breaking changes go expand-then-contract. Names start with a UTC timestamp.
 */
const migrations: Record<string, Migration> = {
  '20261123000000_core': {
    async up(db: Kysely<any>) {
      await db.schema.createTable('settings').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull()).execute();
      await db.schema.createTable('catalog_meta').addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('version', 'bigint', (c) => c.notNull()).execute();
      await db.insertInto('catalog_meta').values({ id: 1, version: 0 }).execute();
      await db.schema
        .createTable('products')
        .addColumn('sku', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text')
        .addColumn('category', 'text')
        .addColumn('price', 'bigint', (c) => c.notNull())
        .addColumn('unit_cost', 'bigint', (c) => c.notNull())
        .addColumn('fulfilment_cost', 'bigint', (c) => c.notNull())
        .addColumn('inventory_on_hand', 'bigint')
        .addColumn('daily_sales_rate', 'double precision')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      for (const kind of ['offer', 'campaign'] as const) {
        await db.schema
          .createTable(`${kind}s`)
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('current_version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable(`${kind}_versions`)
          .addColumn(`${kind}_id`, 'text', (c) => c.notNull().references(`${kind}s.id`))
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('spec', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint(`${kind}_versions_pk`, [`${kind}_id`, 'version'])
          .execute();
      }
      await db.schema
        .createTable('customers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('traits', 'text', (c) => c.notNull())
        .addColumn('consent', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema
        .createTable('guard_counters')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('used', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('subjects').addColumn('id', 'text', (c) => c.primaryKey()).addColumn('seq', 'bigint', (c) => c.notNull()).execute();
      await db.schema
        .createTable('issuances')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('decision_id', 'text', (c) => c.notNull())
        .addColumn('offer_id', 'text', (c) => c.notNull())
        .addColumn('offer_version', 'integer', (c) => c.notNull())
        .addColumn('campaign_id', 'text', (c) => c.notNull())
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text')
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('placement', 'text', (c) => c.notNull())
        .addColumn('value', 'double precision')
        .addColumn('discount', 'bigint', (c) => c.notNull())
        .addColumn('cost', 'bigint', (c) => c.notNull())
        .addColumn('reserved', 'bigint', (c) => c.notNull())
        .addColumn('points', 'bigint', (c) => c.notNull())
        .addColumn('liability_day', 'text', (c) => c.notNull())
        .addColumn('issued_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('issuances_subject').on('issuances').columns(['subject_id', 'offer_id', 'issued_at']).execute();
      await db.schema.createIndex('issuances_offer').on('issuances').columns(['offer_id', 'issued_at']).execute();
      await db.schema
        .createTable('decisions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('request_id', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('campaign_id', 'text')
        .addColumn('campaign_version', 'integer')
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text')
        .addColumn('anonymous_id', 'text')
        .addColumn('placement', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('holdout', 'integer', (c) => c.notNull())
        .addColumn('personalized', 'integer', (c) => c.notNull())
        .addColumn('probability', 'double precision', (c) => c.notNull())
        .addColumn('policy', 'text')
        .addColumn('catalog_version', 'bigint', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .execute();
      // Partial: most decisions carry no idempotency key, and NULLs need no index entry.
      await db.schema.createIndex('decisions_request_id').on('decisions').column('request_id').unique().where(sql.ref('request_id'), 'is not', null).execute();
      await db.schema.createIndex('decisions_campaign_time').on('decisions').columns(['campaign_id', 'created_at']).execute();
      await db.schema.createIndex('decisions_subject_time').on('decisions').columns(['subject_id', 'created_at']).execute();
    },
  },
  '20261124000000_outcomes': {
    async up(db: Kysely<any>) {
      // Human-enterable coupon codes (e-mail / SMS / push issuances); unique, so one code maps to one wallet entry.
      await db.schema.alterTable('issuances').addColumn('code', 'text').execute();
      await db.schema.createIndex('issuances_code').on('issuances').column('code').unique().where(sql.ref('code'), 'is not', null).execute();
      // No index mentions status: redeeming (a status change) is then a HOT update on PostgreSQL,
      // rewriting no index entry. The expiry sweep walks expires_at from a cursor instead.
      await db.schema.createIndex('issuances_expiry').on('issuances').column('expires_at').execute();
      await db.schema.createIndex('issuances_customer').on('issuances').column('customer_id').execute();
      await db.schema
        .createTable('events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text')
        .addColumn('session_id', 'text')
        .addColumn('occurred_at', 'bigint', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addColumn('order_id', 'text')
        .addColumn('offer_id', 'text')
        .addColumn('decision_id', 'text')
        .addColumn('campaign_id', 'text')
        .addColumn('holdout', 'integer')
        .addColumn('attribution', 'text')
        .addColumn('amount', 'bigint')
        .addColumn('body', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('events_subject_type_time').on('events').columns(['subject_id', 'type', 'occurred_at']).execute();
      // Partial: reports read attributed events by campaign; unattributed ones need no entry.
      await db.schema.createIndex('events_campaign_time').on('events').columns(['campaign_id', 'occurred_at']).where(sql.ref('campaign_id'), 'is not', null).execute();
      await db.schema
        .createTable('orders')
        .addColumn('order_id', 'text', (c) => c.primaryKey())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text')
        .addColumn('occurred_at', 'bigint', (c) => c.notNull())
        .addColumn('subtotal', 'bigint', (c) => c.notNull())
        .addColumn('shipping', 'bigint', (c) => c.notNull())
        .addColumn('discount', 'bigint', (c) => c.notNull())
        .addColumn('cogs', 'bigint', (c) => c.notNull())
        .addColumn('margin', 'bigint', (c) => c.notNull())
        .addColumn('with_offer', 'integer', (c) => c.notNull())
        .addColumn('decision_id', 'text')
        .addColumn('campaign_id', 'text')
        .addColumn('offer_id', 'text')
        .addColumn('holdout', 'integer')
        .addColumn('attribution', 'text')
        .execute();
      await db.schema.createIndex('orders_subject_time').on('orders').columns(['subject_id', 'occurred_at']).execute();
      await db.schema.createIndex('orders_campaign_time').on('orders').columns(['campaign_id', 'occurred_at']).execute();
      await db.schema
        .createTable('customer_features')
        .addColumn('subject_id', 'text', (c) => c.primaryKey())
        .addColumn('orders', 'bigint', (c) => c.notNull())
        .addColumn('first_order_at', 'bigint')
        .addColumn('last_order_at', 'bigint')
        .addColumn('revenue', 'bigint', (c) => c.notNull())
        .addColumn('refunded', 'bigint', (c) => c.notNull())
        .addColumn('offer_orders', 'bigint', (c) => c.notNull())
        .addColumn('offer_discount', 'bigint', (c) => c.notNull())
        .addColumn('offer_subtotal', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('redemptions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('order_id', 'text', (c) => c.notNull().unique())
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text')
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('rolled_back_at', 'bigint')
        .addColumn('discount', 'bigint', (c) => c.notNull())
        .addColumn('cost', 'bigint', (c) => c.notNull())
        .addColumn('points', 'bigint', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('redemption_items')
        .addColumn('redemption_id', 'text', (c) => c.notNull())
        .addColumn('issuance_id', 'text', (c) => c.notNull())
        .addColumn('offer_id', 'text', (c) => c.notNull())
        .addColumn('discount', 'bigint', (c) => c.notNull())
        .addColumn('cost', 'bigint', (c) => c.notNull())
        .addColumn('points', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('redemption_items_pk', ['redemption_id', 'issuance_id'])
        .execute();
      await db.schema.createIndex('redemption_items_issuance').on('redemption_items').column('issuance_id').execute();
      // Append-only: every move of an offer liability after issue (issue itself is the issuance row).
      await db.schema
        .createTable('liability_ledger')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('issuance_id', 'text', (c) => c.notNull())
        .addColumn('offer_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('liability', 'bigint', (c) => c.notNull())
        .addColumn('cost', 'bigint', (c) => c.notNull())
        .addColumn('points', 'bigint', (c) => c.notNull())
        .addColumn('redemption_id', 'text')
        .execute();
      await db.schema.createIndex('liability_ledger_offer_day').on('liability_ledger').columns(['offer_id', 'day']).execute();
      // PostgreSQL redeems in one round trip: the whole redemption plan runs server-side in one
      // statement, and any refusal raises, which rolls back everything the statement did.
      if (db.getExecutor().adapter.constructor.name === 'PostgresAdapter') {
        await sql.raw(PG_REDEEM).execute(db);
        // Room on each page for the new row version of a status change (HOT updates).
        await sql.raw('ALTER TABLE issuances SET (fillfactor = 85)').execute(db);
      }
    },
  },
  '20261130000000_measurement': {
    async up(db: Kysely<any>) {
      // What the decision showed (treatment) or would have shown (holdout): "ofr_a@10+ofr_b", null
      // for none. Reports compare treatment and holdout sessions per offer without unpacking bodies.
      await db.schema.alterTable('decisions').addColumn('offer_key', 'text').execute();
      // In the program-level holdout (1), which campaign holdouts are drawn outside of.
      await db.schema.alterTable('decisions').addColumn('global_holdout', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      // Automatic guard actions (stop-loss pauses) with the evidence they acted on.
      await db.schema
        .createTable('campaign_guard_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('campaign_id', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('evidence', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('campaign_guard_log_campaign').on('campaign_guard_log').columns(['campaign_id', 'at']).execute();
      await db.schema.createIndex('orders_decision').on('orders').column('decision_id').execute();
      // Refunds and returns by order, for reports to net them out; partial, so the many other
      // events cost this index nothing.
      await sql`CREATE INDEX events_refund_order ON events (order_id) WHERE type IN ('refund', 'return')`.execute(db);
      // Reports read a campaign's sessions in a window per customer, arm and dimension: this index
      // holds all of it, so a report never touches the wide decision rows (their logged bodies),
      // and it is in customer order, so grouping by customer streams instead of sorting
      // (measured on 1M sessions: 1.1 s → 0.4 s per grouping).
      await db.schema.dropIndex('decisions_campaign_time').execute();
      await db.schema
        .createIndex('decisions_measure')
        .on('decisions')
        .columns(['campaign_id', 'subject_id', 'holdout', 'created_at', 'placement', 'channel', 'offer_key', 'global_holdout'])
        .execute();
    },
  },
  '20261130180000_report_visibility': {
    async up(db: Kysely<any>) {
      // PostgreSQL reads the covering index without visiting the table only for pages vacuum has
      // marked all-visible, and by default autovacuum comes to an insert-only table after 20% of
      // it is new: the recent weeks a report reads. Every 1% instead (measured on 1M sessions:
      // full report 3.3–3.8 s just loaded, 2.1–2.7 s vacuumed; see BENCHMARKS.md).
      // (Insert-triggered autovacuum, and this setting, came with PostgreSQL 13.)
      if (db.getExecutor().adapter.constructor.name === 'PostgresAdapter') {
        const v = await sql<{ v: string }>`SELECT current_setting('server_version_num') AS v`.execute(db);
        if (Number(v.rows[0]!.v) >= 130000) {
          await sql.raw('ALTER TABLE decisions SET (autovacuum_vacuum_insert_scale_factor = 0.01)').execute(db);
          await sql.raw('ALTER TABLE orders SET (autovacuum_vacuum_insert_scale_factor = 0.01)').execute(db);
        }
      }
    },
  },
  '20261201000000_redemption_fingerprint': {
    async up(db: Kysely<any>) {
      // A digest of what a redemption was asked for, so that a retry of the same order id with
      // another cart, channel or customer is refused instead of answered with the old discount.
      // Rows from before this migration have none and are compared on customer and tokens only.
      await db.schema.alterTable('redemptions').addColumn('fingerprint', 'text').execute();
      if (db.getExecutor().adapter.constructor.name === 'PostgresAdapter') await sql.raw(PG_REDEEM_FINGERPRINT).execute(db);
    },
  },
  '20261201010000_outcome_checks': {
    async up(db: Kysely<any>) {
      // What each order has had refunded, so a refund can be checked against what is left in the
      // same statement that writes it (summing its events per refund would read them all again).
      await db.schema.alterTable('orders').addColumn('refunded', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      await sql`UPDATE orders SET refunded = (SELECT coalesce(sum(e.amount), 0) FROM events e WHERE e.order_id = orders.order_id AND e.type IN ('refund', 'return'))
        WHERE order_id IN (SELECT order_id FROM events WHERE type IN ('refund', 'return') AND order_id IS NOT NULL)`.execute(db);
      // Refunds that arrive before their order: kept (with the row they would store) instead of
      // counted against nothing, out of every report, and written when their order arrives.
      await db.schema
        .createTable('event_quarantine')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('code', 'text', (c) => c.notNull())
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('order_id', 'text')
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('event_quarantine_subject').on('event_quarantine').column('subject_id').execute();
      // Each new order looks for refunds that were waiting for it.
      await db.schema.createIndex('event_quarantine_order').on('event_quarantine').column('order_id').execute();
    },
  },
  '20261201030000_order_redemption_reconcile': {
    async up(db: Kysely<any>) {
      // Orders and redemptions of one order id must agree on the discount, whichever arrives
      // first; on SQLite the writer checks it in the redemption's transaction, with no schema change.
      if (db.getExecutor().adapter.constructor.name === 'PostgresAdapter') await sql.raw(PG_REDEEM_RECONCILE).execute(db);
    },
  },
  '20261202000000_policy_state': {
    async up(db: Kysely<any>) {
      // Learned policy state per campaign, versioned; decisions read a cached copy and log the version they used.
      await db.schema
        .createTable('policy_state')
        .addColumn('campaign_id', 'text', (c) => c.primaryKey())
        .addColumn('version', 'bigint', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '20261202000100_catalog_actors': {
    async up(db: Kysely<any>) {
      // Who made each catalog change: a key id or `system:<name>`. Rows from before have none (null).
      for (const kind of ['offer', 'campaign']) {
        await db.schema.alterTable(`${kind}_versions`).addColumn('changed_by', 'text').execute();
        await db.schema.alterTable(`${kind}s`).addColumn('status_changed_by', 'text').execute();
      }
    },
  },
  '20261202000200_learning_stats': {
    async up(db: Kysely<any>) {
      // A learner's sufficient statistics per campaign: what decisions with a final outcome added,
      // up to a watermark. Written with compare-and-set on the version, so of several processes
      // training at once exactly one advances it.
      await db.schema
        .createTable('learning_stats')
        .addColumn('campaign_id', 'text', (c) => c.primaryKey())
        .addColumn('version', 'bigint', (c) => c.notNull())
        .addColumn('watermark', 'bigint', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};

/**
 * Redeems a batch of RedemptionPlans (see store/outcome-plan.ts, as JSON) in one transaction;
 * returns one result per plan: 'applied', 'duplicate' or a JSON refusal {index, code, key}.
 *
 * Guardrail counters are locked once, in key order (so concurrent batches queue instead of
 * deadlocking), checked and moved in memory, and written once at the end: updating one hot row
 * once per redemption inside a transaction makes every later update walk all its versions.
 * Each plan's rows are written in a subtransaction, so a refusal undoes only that plan.
 */
const PG_REDEEM = `
CREATE OR REPLACE FUNCTION offerpilot_redeem_many(ps jsonb) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  p jsonb;
  r jsonb;
  it jsonb;
  op jsonb;
  st record;
  now_ms bigint;
  ctr jsonb := '{}'::jsonb;
  moved jsonb;
  v_used bigint;
  fail jsonb;
  res jsonb := '[]'::jsonb;
  v_keys text[];
BEGIN
  SELECT array_agg(DISTINCT o->>'key' ORDER BY o->>'key') INTO v_keys
  FROM jsonb_array_elements(ps) x, jsonb_array_elements(x->'counterOps') o;
  IF v_keys IS NOT NULL THEN
    INSERT INTO guard_counters (key, used, updated_at) SELECT k, 0, 0 FROM unnest(v_keys) k ORDER BY k ON CONFLICT (key) DO NOTHING;
    SELECT jsonb_object_agg(key, used) INTO ctr FROM (SELECT key, used FROM guard_counters WHERE key = ANY(v_keys) ORDER BY key FOR UPDATE) c;
  END IF;
  FOR p IN SELECT * FROM jsonb_array_elements(ps) LOOP
    r := p->'redemption';
    now_ms := (p->>'now')::bigint;
    fail := NULL;
    -- A retried order is answered from its first redemption, before any limit is consulted.
    IF EXISTS (SELECT 1 FROM redemptions WHERE order_id = r->>'order_id') THEN
      res := res || jsonb_build_array('duplicate');
      CONTINUE;
    END IF;
    moved := ctr;
    FOR op IN SELECT * FROM jsonb_array_elements(p->'counterOps') LOOP
      v_used := (moved->>(op->>'key'))::bigint + (op->>'amount')::bigint;
      IF v_used > (op->>'limit')::bigint THEN
        fail := jsonb_build_object('index', (op->>'index')::int, 'code', op->>'failure', 'key', op->>'key');
        EXIT;
      END IF;
      moved := jsonb_set(moved, ARRAY[op->>'key'], to_jsonb(v_used));
    END LOOP;
    IF fail IS NOT NULL THEN
      res := res || jsonb_build_array(fail::text);
      CONTINUE;
    END IF;
    BEGIN
      INSERT INTO redemptions (id, order_id, subject_id, customer_id, channel, status, created_at, rolled_back_at, discount, cost, points, body)
      VALUES (r->>'id', r->>'order_id', r->>'subject_id', r->>'customer_id', r->>'channel', r->>'status', (r->>'created_at')::bigint, NULL,
        (r->>'discount')::bigint, (r->>'cost')::bigint, (r->>'points')::bigint, r->>'body')
      ON CONFLICT (order_id) DO NOTHING;
      IF NOT FOUND THEN
        res := res || jsonb_build_array('duplicate');
        CONTINUE;
      END IF;
      FOR it IN SELECT * FROM jsonb_array_elements(p->'items') LOOP
        UPDATE issuances SET status = 'redeemed' WHERE id = it->>'issuance_id' AND status = 'issued' AND expires_at > now_ms;
        IF NOT FOUND THEN
          SELECT status, expires_at INTO st FROM issuances WHERE id = it->>'issuance_id';
          RAISE EXCEPTION USING ERRCODE = 'OP001', MESSAGE = json_build_object('index', (it->>'index')::int, 'code',
            CASE WHEN st.status = 'expired' OR (st.status = 'issued' AND st.expires_at <= now_ms) THEN 'TOKEN_EXPIRED' ELSE 'TOKEN_ALREADY_REDEEMED' END)::text;
        END IF;
      END LOOP;
      INSERT INTO redemption_items (redemption_id, issuance_id, offer_id, discount, cost, points)
      SELECT redemption_id, issuance_id, offer_id, discount, cost, points
      FROM jsonb_to_recordset(p->'items') AS x(redemption_id text, issuance_id text, offer_id text, discount bigint, cost bigint, points bigint);
      INSERT INTO liability_ledger (id, issuance_id, offer_id, kind, day, at, liability, cost, points, redemption_id)
      SELECT id, issuance_id, offer_id, kind, day, at, liability, cost, points, redemption_id
      FROM jsonb_to_recordset(p->'ledger') AS x(id text, issuance_id text, offer_id text, kind text, day text, at bigint, liability bigint, cost bigint, points bigint, redemption_id text);
      ctr := moved;
      res := res || jsonb_build_array('applied');
    EXCEPTION
      WHEN SQLSTATE 'OP001' THEN res := res || jsonb_build_array(SQLERRM);
      WHEN unique_violation THEN res := res || jsonb_build_array('duplicate');
    END;
  END LOOP;
  IF v_keys IS NOT NULL THEN
    UPDATE guard_counters g SET used = (ctr->>g.key)::bigint, updated_at = (ps->0->>'now')::bigint
    WHERE g.key = ANY(v_keys) AND g.used <> (ctr->>g.key)::bigint;
  END IF;
  RETURN res;
END
$fn$`;

/**
 * offerpilot_redeem_many as of 20261201000000_redemption_fingerprint: the same function, also
 * storing the request's fingerprint. Derived from PG_REDEEM (which stays as its migration
 * installed it), so the two cannot drift apart anywhere but in that one column.
 */
const PG_REDEEM_FINGERPRINT = (() => {
  const cols = 'INSERT INTO redemptions (id, order_id, subject_id, customer_id, channel, status, created_at, rolled_back_at, discount, cost, points, body)';
  const vals = "(r->>'discount')::bigint, (r->>'cost')::bigint, (r->>'points')::bigint, r->>'body')";
  if (!PG_REDEEM.includes(cols) || !PG_REDEEM.includes(vals)) throw new Error('offerpilot_redeem_many: the redemption INSERT is not where the fingerprint migration expects it');
  return PG_REDEEM.replace(cols, cols.replace(', body)', ', body, fingerprint)')).replace(vals, vals.replace("r->>'body')", "r->>'body', r->>'fingerprint')"));
})();

/**
 * offerpilot_redeem_many as of 20261201030000_order_redemption_reconcile: the fingerprint version,
 * which also takes the order-id locks event batches take (so an order and the redemption of its
 * id, written concurrently, see each other) and refuses a redemption of an order id already
 * reported as an order with another discount: {index: -1, code: ORDER_DISCOUNT_MISMATCH, key: the
 * reported discount}. Derived like PG_REDEEM_FINGERPRINT, so the versions cannot drift apart.
 */
const PG_REDEEM_RECONCILE = (() => {
  const decl = '  v_keys text[];\nBEGIN\n';
  const dup = `    IF EXISTS (SELECT 1 FROM redemptions WHERE order_id = r->>'order_id') THEN
      res := res || jsonb_build_array('duplicate');
      CONTINUE;
    END IF;
`;
  if (!PG_REDEEM_FINGERPRINT.includes(decl) || !PG_REDEEM_FINGERPRINT.includes(dup)) throw new Error('offerpilot_redeem_many: the declarations or the duplicate check are not where the reconcile migration expects them');
  const locks = `  v_keys text[];
  v_reported bigint;
BEGIN
  -- The same locks as event batches, taken first and in key order (no deadlock with them or other batches).
  PERFORM pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(x->'redemption'->>'order_id', 0) AS k FROM jsonb_array_elements(ps) x ORDER BY k) AS keys;
`;
  const reported = `${dup}    SELECT discount INTO v_reported FROM orders WHERE order_id = r->>'order_id';
    IF FOUND AND v_reported <> (r->>'discount')::bigint THEN
      res := res || jsonb_build_array(jsonb_build_object('index', -1, 'code', 'ORDER_DISCOUNT_MISMATCH', 'key', v_reported::text)::text);
      CONTINUE;
    END IF;
`;
  return PG_REDEEM_FINGERPRINT.replace(decl, locks).replace(dup, reported);
})();

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Applies every pending migration; safe to call on every boot and from several processes. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
