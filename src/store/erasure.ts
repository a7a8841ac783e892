import { sql, type Kysely } from 'kysely';
import type { CustomerErasure } from '../customers/port.js';
import { anonymousSubject, customerSubject } from '../core/subject.js';
import type { DB } from './schema.js';

/** Customer erasure over Kysely, shared by both dialects: one transaction across every table with personal data. */
export function createCustomerErasure(db: Kysely<DB>): CustomerErasure {
  return {
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
