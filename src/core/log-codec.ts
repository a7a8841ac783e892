import type { CandidateResult } from './decide.js';
import type { DecisionResponse } from './response.js';
import type { Reason } from './reasons.js';

/**
 * The decision log stores candidates compactly: every decision explains every candidate, so
 * with 50 offers the explanations dominate the row. A candidate becomes
 * [offerId, version, flags (1 eligible, 2 selected), reasons, score, value] where a reason
 * is its code, or [code, detail]. About a third of the JSON size, losslessly.
 */
type PackedReason = string | [string, string];
export type PackedCandidate = [string, number, number, PackedReason[], number | null, number | null];

export function packCandidates(cs: readonly CandidateResult[]): PackedCandidate[] {
  return cs.map((c) => [
    c.offerId,
    c.version,
    (c.eligible ? 1 : 0) | (c.selected ? 2 : 0),
    c.reasons.map((r): PackedReason => (r.detail === undefined ? r.code : [r.code, r.detail])),
    c.score,
    c.value,
  ]);
}

export function unpackCandidates(ps: readonly PackedCandidate[]): CandidateResult[] {
  return ps.map(([offerId, version, flags, reasons, score, value]) => ({
    offerId,
    version,
    eligible: (flags & 1) !== 0,
    selected: (flags & 2) !== 0,
    reasons: reasons.map((r) => (typeof r === 'string' ? { code: r } : { code: r[0], detail: r[1] }) as Reason),
    score,
    value,
  }));
}

/** Serializes a decision for the log (candidates packed). */
export function packLog(response: DecisionResponse, log: unknown): string {
  const { candidates, ...rest } = response;
  return JSON.stringify({ v: 1, response: rest, candidates: packCandidates(candidates), log });
}

/** Reads a logged decision back into the API's shape. */
export function unpackLog(body: string): { response: DecisionResponse; log: unknown } {
  const b = JSON.parse(body) as { response: Omit<DecisionResponse, 'candidates'>; candidates: PackedCandidate[]; log: unknown };
  // Decisions logged before the program-level holdout existed were never in it.
  return { response: { ...b.response, globalHoldout: b.response.globalHoldout ?? false, candidates: unpackCandidates(b.candidates) } as DecisionResponse, log: b.log };
}
