import { Ajv } from 'ajv';
import { z } from 'zod';
import { EVENT_VARIANTS, type OutcomeEvent } from './schema.js';

/**
 * A fast path for valid events. Parsing a fresh object with zod costs 4–15 µs per event (a
 * third of the ingestion budget); a validator compiled by ajv from the same zod schema's JSON
 * Schema costs well under 1 µs. It only ever *accepts*: whatever it does not accept goes to
 * zod, which stays the one source of truth for the data and for every error message. ajv is
 * set to zod's semantics (string lengths in UTF-16 units, patterns without the `u` flag), and
 * the refinements JSON Schema cannot express are checked here; a property test
 * (test/events-validate.test.ts) holds the two to agreement.
 */
// `unicode: false` (deprecated in ajv 8 but honoured; pinned, and the agreement test would catch a
// change) counts string lengths in UTF-16 units as zod does; `logger: false` keeps ajv quiet about it.
const ajv = new Ajv({ unicode: false, unicodeRegExp: false, strict: false, validateFormats: false, allErrors: false, logger: false });
// One validator per event type, picked by `type`: a oneOf over all types would validate every branch.
const byType = new Map(
  EVENT_VARIANTS.map((v) => [v.shape.type.value as string, ajv.compile(z.toJSONSchema(v, { io: 'input', unrepresentable: 'any', target: 'draft-7' }))]),
);

const SUBTOTAL_CAP = 900_000_000_000;

/** The event, with zod's defaults applied, if it is certainly valid; otherwise null (ask zod). */
export function fastParseEvent(raw: unknown): OutcomeEvent | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const e = raw as Record<string, unknown>;
  const valid = typeof e.type === 'string' ? byType.get(e.type) : undefined;
  if (!valid || !valid(raw)) return null;
  if ((e.customerId === undefined) === (e.anonymousId === undefined)) return null;
  switch (e.type) {
    case 'order': {
      const lines = e.lines as Array<{ quantity: number; unitPrice: number }>;
      const subtotal = lines.reduce((s, l) => s + l.unitPrice * l.quantity, 0);
      const shipping = (e.shipping as number | undefined) ?? 0;
      const discount = (e.discount as number | undefined) ?? 0;
      if (subtotal > SUBTOTAL_CAP || discount > subtotal + shipping) return null;
      return { ...e, shipping, discount, tokens: e.tokens ?? [] } as OutcomeEvent;
    }
    case 'add_to_cart':
      return { ...e, quantity: e.quantity ?? 1 } as OutcomeEvent;
    case 'refund':
    case 'return':
      return (e.amount as number) > 0 ? (e as OutcomeEvent) : null;
    default:
      return e as OutcomeEvent;
  }
}
