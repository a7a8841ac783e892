/**
 * One registry of error codes: each code has a fixed HTTP status and a default message.
 * Codes are never reused or renamed once released; clients may switch on them.
 */
export const ERRORS = {
  VALIDATION_FAILED: { status: 400, message: 'The request is invalid' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON' },
  INVALID_RULE: { status: 400, message: 'The eligibility expression is invalid' },
  INVALID_TRANSITION: { status: 409, message: 'That lifecycle transition is not allowed' },
  UNAUTHENTICATED: { status: 401, message: 'A valid API key is required (Authorization: Bearer <key>)' },
  FORBIDDEN_SCOPE: { status: 403, message: 'The API key lacks the scope this endpoint needs' },
  NOT_FOUND: { status: 404, message: 'No such route' },
  OFFER_NOT_FOUND: { status: 404, message: 'No such offer' },
  CAMPAIGN_NOT_FOUND: { status: 404, message: 'No such campaign' },
  PRODUCT_NOT_FOUND: { status: 404, message: 'No such product' },
  CUSTOMER_NOT_FOUND: { status: 404, message: 'No such customer' },
  DECISION_NOT_FOUND: { status: 404, message: 'No such decision' },
  UNKNOWN_OFFER_REFERENCE: { status: 422, message: 'The campaign references an offer that does not exist' },
  UNKNOWN_PRODUCT_REFERENCE: { status: 422, message: 'The offer references a product that does not exist' },
  ARCHIVED: { status: 409, message: 'Archived items cannot be edited' },
  CONFLICT: { status: 409, message: 'The request conflicts with the current state' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send application/json' },
  RATE_LIMITED: { status: 429, message: 'Too many requests' },
  INGEST_OVERLOADED: { status: 503, message: 'Event ingestion is at capacity; nothing in this request was stored. Retry after the Retry-After delay' },
  REDEMPTION_NOT_FOUND: { status: 404, message: 'No such redemption' },
  TOKEN_INVALID: { status: 422, message: 'The offer token or coupon code is not valid' },
  TOKEN_EXPIRED: { status: 422, message: 'The offer has expired' },
  TOKEN_ALREADY_REDEEMED: { status: 409, message: 'The offer was already redeemed' },
  TOKEN_NOT_FOR_CUSTOMER: { status: 422, message: 'The offer was issued to someone else' },
  CHANNEL_NOT_ALLOWED: { status: 422, message: 'The offer cannot be redeemed on this channel' },
  MIN_CART_NOT_MET: { status: 422, message: 'The cart is below the offer’s minimum' },
  MAX_CART_EXCEEDED: { status: 422, message: 'The cart is above the offer’s maximum' },
  SCOPE_NOT_IN_CART: { status: 422, message: 'Nothing in the cart is covered by the offer' },
  BUNDLE_INCOMPLETE: { status: 422, message: 'The cart does not hold the whole bundle' },
  NOT_STACKABLE: { status: 422, message: 'These offers cannot be used together' },
  OFFER_NOT_REDEEMABLE: { status: 422, message: 'This kind of offer is not redeemed at checkout' },
  REDEMPTION_CAP_REACHED: { status: 409, message: 'The offer has reached its redemption cap' },
  BUDGET_EXHAUSTED: { status: 409, message: 'The offer’s budget cannot cover this redemption' },
  DAILY_LIABILITY_EXCEEDED: { status: 409, message: 'The offer’s daily liability limit cannot cover this redemption' },
  ORDER_CONFLICT: { status: 409, message: 'This order id was already redeemed with a different request (tokens, customer, channel or cart)' },
  ORDER_ROLLED_BACK: { status: 409, message: 'This order id’s redemption was rolled back; redeem under a new order id' },
  EVENT_ORDER_CONFLICT: { status: 409, message: 'The order id is already another customer’s order; the event was not stored' },
  REFUND_ORDER_UNKNOWN: { status: 422, message: 'The refund’s order is not known yet; the event is quarantined and counted when the order arrives' },
  REFUND_CUSTOMER_MISMATCH: { status: 422, message: 'The refund’s order belongs to another customer; the event was not stored' },
  REFUND_EXCEEDS_ORDER: { status: 422, message: 'The refund is more than is left to refund on its order; the event was not stored' },
  ORDER_DISCOUNT_MISMATCH: { status: 409, message: 'The order’s discount is not the one its redemption applied; the event (or redemption) was not stored' },
  ORDER_TOKEN_MISMATCH: { status: 409, message: 'The order names a token or code its redemption did not use; the event was not stored' },
  CONFIG_INVALID: { status: 500, message: 'The server configuration is invalid' },
  USAGE_ERROR: { status: 400, message: 'The command line is invalid (see --help)' },
  FILE_NOT_READABLE: { status: 400, message: 'A file could not be read' },
  KEY_NOT_FOUND: { status: 404, message: 'No such live API key' },
  LISTEN_FAILED: { status: 500, message: 'The server cannot listen on that address' },
  STORE_UNAVAILABLE: { status: 503, message: 'The database is unavailable; retry' },
  STORE_FULL: { status: 503, message: 'The database is out of space; retry after the Retry-After delay' },
  STORE_READ_ONLY: { status: 503, message: 'The database is read-only; retry after the Retry-After delay' },
  STORE_BUSY: { status: 503, message: 'The database is busy (locked); retry after the Retry-After delay' },
  NOT_ENOUGH_DATA: { status: 422, message: 'There are not enough logged decisions for this' },
  INTERNAL: { status: 500, message: 'Internal error' },
  REPLY_SCHEMA_MISMATCH: { status: 500, message: 'The reply does not match its declared schema' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'The route does not support this method (see the Allow header)' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request took too long to arrive' },
  MALFORMED_REQUEST: { status: 400, message: 'The request is not valid HTTP' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** A problem detail attached to an error: where (a dotted path) and what. */
export interface ErrorDetail {
  path: string;
  message: string;
}

/** An error with a stable code; the HTTP layer maps it to its registered status. */
export class OfferpilotError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetail[];

  constructor(code: ErrorCode, message?: string, details: ErrorDetail[] = []) {
    super(message ?? ERRORS[code].message);
    this.name = 'OfferpilotError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
  }

  /** The JSON body the API returns for this error. */
  toJSON(): { error: { code: ErrorCode; message: string; details: ErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/** Whether a value is an OfferpilotError (also across module copies). */
export function isOfferpilotError(e: unknown): e is OfferpilotError {
  return e instanceof OfferpilotError || (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'OfferpilotError');
}

/** Turns a zod-like issue path into the dotted form used in error details. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p) => String(p)).join('.') || '(body)';
}
