/**
 * Reason codes explain every candidate in every decision. Like error codes they are stable:
 * dashboards and tests switch on them. Checks run in the order listed, and a candidate's
 * reasons stop at the first check that excludes it.
 */
export const REASONS = {
  // decision level
  NO_CAMPAIGN: 'No live campaign serves this placement and channel',
  CONSENT_CHANNEL: 'The customer has not consented to marketing on this channel',
  HOLDOUT: 'The customer is in the campaign holdout and gets the control (no offer)',
  NO_ELIGIBLE_OFFER: 'No candidate passed eligibility, guardrails and the policy',
  // candidate level, in check order
  NOT_LIVE: 'The offer is not live',
  CHANNEL_MISMATCH: 'The offer is not available on this channel',
  PLACEMENT_MISMATCH: 'The offer is not available on this placement',
  SCHEDULE_NOT_STARTED: 'The offer has not started yet',
  SCHEDULE_ENDED: 'The offer has ended',
  CONSENT_REQUIRED: 'The offer targets profile data and the customer has not consented to personalization',
  RULE_FAILED: 'The eligibility rule evaluated to false',
  RULE_ERROR: 'The eligibility rule could not be evaluated on this request (treated as not eligible)',
  MIN_CART_VALUE: 'The cart is below the offer minimum',
  MAX_CART_VALUE: 'The cart is above the offer maximum',
  CUSTOMER_CAP: 'The customer has reached the per-customer issuance cap',
  FREQUENCY_CAP: 'The customer has seen this offer as often as the frequency cap allows in its window',
  GLOBAL_CAP: 'The offer has reached its global issuance cap',
  REDEMPTION_CAP: 'The offer has reached its redemption cap',
  // per value rung
  SCOPE_NOT_IN_CART: 'No cart line is in the offer scope',
  BUNDLE_INCOMPLETE: 'The cart does not hold every SKU of the bundle',
  NO_BENEFIT: 'The offer is worth nothing on this request (free shipping on a cart with no shipping fee, a discount that computes to 0): never issued',
  MARGIN_UNKNOWN: 'A cart SKU has no cost in the catalog, so the margin floor cannot be verified',
  MARGIN_FLOOR: 'The offer would push the cart contribution margin below the floor',
  BUDGET_EXHAUSTED: 'The offer budget cannot cover the expected cost',
  DAILY_LIABILITY: 'The offer daily liability cap cannot cover the expected cost',
  IN_WALLET: 'The customer already holds this offer (issued, unredeemed, unexpired): it is presented again with the same issuance and token, nothing new is reserved',
  ELIGIBLE: 'Eligible',
  NOT_PROFITABLE: 'Expected incremental margin is not positive: the customer is as likely to buy without it',
  STACKING_CONFLICT: 'Cannot be combined with an offer already chosen (exclusive or same stacking group)',
  OUTSCORED: 'Eligible but another offer scored higher',
  SELECTED: 'Chosen',
  HOLDOUT_CONTROL: 'Would have been chosen; withheld because the customer is in the holdout',
  // commit level
  OFFER_CHANGED: 'The offer or campaign was edited, paused or archived after the catalog snapshot was read',
  ALREADY_HELD: 'A concurrent decision issued this offer to the customer first: the decision is made again and presents that entry',
} as const;

export type ReasonCode = keyof typeof REASONS;

/** One reason for a candidate's fate, with an optional detail such as the failing value. */
export interface Reason {
  code: ReasonCode;
  detail?: string;
}
