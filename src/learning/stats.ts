import type { OutcomeEvent } from '../events/schema.js';

/** The prefix every statistic key carries: statistics never share a key with a guardrail counter. */
export const STAT_PREFIX = 'stat:';

/** A counter increment applied with its event, in the same transaction, once per new event. */
export interface StatOp {
  /** `stat:…` (see STAT_PREFIX). */
  key: string;
  /** A safe integer; negative decrements. */
  amount: number;
}

/** What an event was credited to, as the ingestor attributed it. */
export interface StatAttribution {
  decisionId: string;
  campaignId: string | null;
  holdout: boolean;
  offerId: string | null;
  method: 'decision' | 'token' | 'redemption' | 'order' | 'window';
}

/**
 * Computes the statistic updates of one event (e.g. a learner's reward counts per campaign ×
 * offer × rung); registered by the composition root (`createEngine({ statsFor })`). It runs
 * for every valid event; the store applies its ops only if the event is stored as new (a
 * duplicate, rejected or quarantined event applies none, and a resent order under a new event
 * id, counted once, applies none either). A quarantined refund released later by its order's
 * arrival applies none then either: the quarantine keeps the event row, not its ops.
 */
export type StatsHook = (event: OutcomeEvent, attribution: StatAttribution | null) => readonly StatOp[];

/** The default hook: no statistics. */
export const noStats: StatsHook = () => [];
