import type { PolicyState } from '../core/policy.js';

/** One campaign's stored policy state. */
export interface StoredPolicyState extends PolicyState {
  campaignId: string;
  updatedAt: number;
}

/** A logged decision with what it led to, as the trainer reads it. */
export interface LearningRow {
  decisionId: string;
  createdAt: number;
  holdout: boolean;
  /** The probability the logging policy chose its action with. */
  probability: number;
  policyVersion: number | null;
  /** The learner's trace (see LearningTrace); null for a decision logged without one. */
  trace: unknown;
  /**
   * Orders the decision led to so far — of those the campaign was credited with, the ones placed
   * while it was the subject's latest decision in the campaign: their CM summed (after offer costs
   * and refunds), and when the first one arrived.
   */
  orders: number;
  cm: number;
  firstOrderReceivedAt: number | null;
}

/** A learner's statistics as stored: compare-and-set on `version`. */
export interface StoredStats {
  version: number;
  watermark: number;
  body: unknown;
}

/**
 * What learning needs from the store: the current policy state of every campaign (read as a
 * whole, once per refresh, never per decision) and a write that makes a new version of one;
 * for the trainer, the logged decisions of a campaign with their outcomes, and its statistics.
 */
export interface LearningPort {
  /** Every campaign's current state version (cheap: a state is read only when its version moved). */
  readPolicyStateVersions(): Promise<Array<{ campaignId: string; version: number }>>;
  /** One campaign's current state. */
  readPolicyState(campaignId: string): Promise<StoredPolicyState | null>;
  /** Stores `state` as the campaign's next version (1 for the first) and returns that version. */
  writePolicyState(campaignId: string, state: unknown, at: number): Promise<number>;
  /** Decisions of a campaign (program-level holdout excluded) made in (from, to], oldest first. */
  readLearningRows(campaignId: string, from: number, to: number): Promise<LearningRow[]>;
  readLearningStats(campaignId: string): Promise<StoredStats | null>;
  /**
   * Writes statistics as version `expected + 1` if the stored version is still `expected` (0: none
   * stored yet); false when another process got there first (then nothing is written).
   */
  writeLearningStats(campaignId: string, expected: number, watermark: number, body: unknown, at: number): Promise<boolean>;
  /** Current guardrail counter values (0 for a key never used). */
  readCounters(keys: string[]): Promise<Map<string, number>>;
}
