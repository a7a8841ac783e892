import type { PolicyState } from '../core/policy.js';

/** One campaign's stored policy state. */
export interface StoredPolicyState extends PolicyState {
  campaignId: string;
  updatedAt: number;
}

/**
 * What learning needs from the store: the current policy state of every campaign (read as a
 * whole, once per refresh, never per decision) and a write that makes a new version of one.
 */
export interface LearningPort {
  readPolicyStates(): Promise<StoredPolicyState[]>;
  /** Stores `state` as the campaign's next version (1 for the first) and returns that version. */
  writePolicyState(campaignId: string, state: unknown, at: number): Promise<number>;
}
