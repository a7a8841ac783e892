import type { Logger } from 'pino';
import { z } from 'zod';
import { actorId, SYSTEM_ACTOR, type Actor } from '../auth/principal.js';
import { OfferpilotError } from '../core/errors.js';
import { packLog, unpackLog } from '../core/log-codec.js';
import { ConsentSchema, type Consent } from '../core/request.js';
import type { DecisionResponse } from '../core/response.js';
import type { Clock } from '../core/runtime.js';
import { customerSubject, subjectIdOf, type SubjectRef } from '../core/subject.js';
import { parseInput } from '../core/validate.js';
import type { IdGenerator } from '../ids/index.js';
import { computeFeatures, IMPRESSION_WINDOW_MS, type CustomerFeatures } from './features.js';
import type { CustomerRecord, CustomersPort } from './port.js';

export const CustomerPutSchema = z
  .object({
    traits: z.record(z.string().max(100), z.unknown()).default({}),
    consent: ConsentSchema.default({}),
  })
  .strict();

/** Customer profiles (traits, consent), the features rules read, and erasure. */
export class CustomerService {
  constructor(
    private readonly port: CustomersPort,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly logger: Logger,
  ) {}

  /** Stores a customer's traits and consent (replaces both). Profiles keep no history yet, so the actor is not stored. */
  async put(id: string, body: unknown, _actor: Actor = SYSTEM_ACTOR): Promise<CustomerRecord> {
    const parsed = parseInput(CustomerPutSchema, body);
    return this.port.putCustomer(id, parsed.traits, parsed.consent as Consent, this.clock.now());
  }

  /** A stored customer, or CUSTOMER_NOT_FOUND. */
  async get(id: string): Promise<CustomerRecord> {
    const c = await this.port.getCustomer(id);
    if (!c) throw new OfferpilotError('CUSTOMER_NOT_FOUND', `No customer ${id}`);
    return c;
  }

  /** A customer's (a string is always a customer id) or an anonymous visitor's features as rules see them. */
  async features(who: string | SubjectRef): Promise<CustomerFeatures> {
    const now = this.clock.now();
    // Never inferred from the id's shape: a customer id may itself start with `a:`.
    const subject = typeof who === 'string' ? customerSubject(who) : subjectIdOf(who);
    const stored = await this.port.loadSubject(subject, null, now - IMPRESSION_WINDOW_MS);
    return computeFeatures(stored.features, stored.impressions, now);
  }

  /** Erases a customer's profile, features and personal data; outcomes stay, anonymised. */
  async erase(id: string, actor: Actor = SYSTEM_ACTOR): Promise<{ erased: boolean }> {
    // The decision log keeps what was decided, not who for: traits and request context go.
    const scrub = (body: string) => {
      const { response, log } = unpackLog(body) as { response: DecisionResponse; log: { request?: Record<string, unknown> } };
      if (log.request) log.request = { ...log.request, traits: null, context: null, cart: null };
      // Offer tokens name the subject they were issued to; codes are bearer credentials.
      const offers = response.offers.map((o) => ({ ...o, token: '', code: null }));
      return packLog({ ...response, requestId: null, offers }, log);
    };
    const erased = await this.port.eraseCustomer(id, this.ids('erased'), scrub);
    this.logger.info({ erased, actor: actorId(actor) }, 'customer erasure');
    return { erased };
  }
}
