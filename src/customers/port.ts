import type { Consent } from '../core/request.js';

/** A stored customer profile. */
export interface CustomerRecord {
  id: string;
  traits: Record<string, unknown>;
  consent: Consent;
  createdAt: number;
  updatedAt: number;
}

/** A subject's order aggregates, kept current by event ingestion (money in minor units, times epoch ms). */
export interface FeatureTotals {
  orders: number;
  firstOrderAt: number | null;
  lastOrderAt: number | null;
  /** What the shopper paid over all orders. */
  revenue: number;
  refunded: number;
  /** Orders that used an offer, their discounts and their subtotals (goods and shipping). */
  offerOrders: number;
  offerDiscount: number;
  offerSubtotal: number;
  updatedAt: number;
}

/** One issuance to a subject, as caps and the wallet presentation see it. */
export interface SubjectIssuance {
  id: string;
  offerId: string;
  version: number;
  issuedAt: number;
  expiresAt: number;
  status: string;
  value: number | null;
  code: string | null;
}

export interface StoredSubject {
  traits: Record<string, unknown>;
  consent: Consent;
  /** Every issuance to the subject (caps count them), with what the open ones need to be presented again. */
  issuances: SubjectIssuance[];
  /** Order aggregates kept current by event ingestion (null: none seen, or not asked for). */
  features: FeatureTotals | null;
  /** Impression events since `impressionsSince` (0 when features were not asked for). */
  impressions: number;
}

/** Erasure: a write across every table that holds the customer's personal data. */
export interface CustomerErasure {
  /** Erases a customer: profile, features and personal data; outcomes stay under `pseudonym`. Returns whether anything was found. */
  eraseCustomer(customerId: string, pseudonym: string, scrubDecision: (body: string) => string): Promise<boolean>;
}

/** The subject's profile and history as the decision hot path loads it (shared with deciding). */
export interface SubjectReads {
  /**
   * The subject's profile and issuance history, plus its features and the impressions since
   * `impressionsSince` when that is given (null: no rule reads features, so the reads are skipped).
   */
  loadSubject(subjectId: string, customerId: string | null, impressionsSince: number | null): Promise<StoredSubject>;
}

/** What customer profiles, features and erasure need from the store. */
export interface CustomersPort extends SubjectReads, CustomerErasure {
  getCustomer(id: string): Promise<CustomerRecord | null>;
  putCustomer(id: string, traits: Record<string, unknown>, consent: Consent, at: number): Promise<CustomerRecord>;
}
