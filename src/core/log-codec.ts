import type { CandidateResult } from './decide.js';
import type { LearningTrace } from './policy.js';
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

/**
 * A learning trace as logged: with 50 offers its tokens and actions are a quarter of the row.
 * A token that extends an earlier one (`co:x|pl:y` after `co:x`) becomes [that token's index,
 * the rest]; an action whose reserve equals its cost drops the reserve; a rung of the same offer
 * as the action before it keeps only `@value`. Lossless; traces logged before read as they are.
 */
type PackedToken = string | [number, string];
type PackedAct = [string, number] | [string, number, number] | [string, number, number, number];
interface PackedTrace {
  a: string;
  k: PackedToken[];
  m: number;
  acts: PackedAct[];
}

/** Packs a learning trace for the log (see PackedTrace); unpackTrace reads it back. */
export function packTrace(t: LearningTrace): PackedTrace {
  const index = new Map<string, number>();
  const k = t.k.map((tok, i): PackedToken => {
    let packed: PackedToken = tok;
    // The longest earlier token this one extends at a '|'.
    for (let at = tok.lastIndexOf('|'); at > 0; at = tok.lastIndexOf('|', at - 1)) {
      const j = index.get(tok.slice(0, at));
      if (j !== undefined) {
        packed = [j, tok.slice(at + 1)];
        break;
      }
    }
    if (!index.has(tok)) index.set(tok, i);
    return packed;
  });
  let offer = '';
  const acts = t.acts.map((act): PackedAct => {
    const [key, cost, reserve] = act;
    const at = key.indexOf('@');
    const own = at < 0 ? key : key.slice(0, at);
    const short = at > 0 && own === offer ? key.slice(at) : key;
    offer = own;
    if (act.length === 4) return [short, cost, reserve, act[3]];
    return reserve === cost ? [short, cost] : [short, cost, reserve];
  });
  return { a: t.a, k, m: t.m, acts };
}

/** Reads a logged trace back (packed or not); anything that is not a trace is returned as is. */
export function unpackTrace(x: unknown): unknown {
  if (x === null || typeof x !== 'object') return x;
  const p = x as Partial<PackedTrace>;
  if (typeof p.a !== 'string' || !Array.isArray(p.k) || !Array.isArray(p.acts)) return x;
  const k: string[] = [];
  for (const tok of p.k) k.push(typeof tok === 'string' ? tok : `${k[tok[0]]}|${tok[1]}`);
  let offer = '';
  const acts = p.acts.map((act): LearningTrace['acts'][number] => {
    const key = act[0].startsWith('@') ? offer + act[0] : act[0];
    const at = key.indexOf('@');
    offer = at < 0 ? key : key.slice(0, at);
    if (act.length === 2) return [key, act[1], act[1]];
    if (act.length === 4) return [key, act[1], act[2], act[3]];
    return [key, act[1], act[2]];
  });
  return { ...p, k, acts };
}

/** Serializes a decision for the log (candidates and learning trace packed). */
export function packLog(response: DecisionResponse, log: unknown): string {
  const { candidates, ...rest } = response;
  return JSON.stringify({ v: 1, response: rest, candidates: packCandidates(candidates), log: packedLog(log) });
}

function packedLog(log: unknown): unknown {
  const l = log as { learning?: LearningTrace } | null;
  return l && typeof l === 'object' && l.learning ? { ...l, learning: packTrace(l.learning) } : log;
}

/** Reads a logged decision back into the API's shape. */
export function unpackLog(body: string): { response: DecisionResponse; log: unknown } {
  const b = JSON.parse(body) as { response: Omit<DecisionResponse, 'candidates'>; candidates: PackedCandidate[]; log: unknown };
  const l = b.log as { learning?: unknown } | null;
  const log = l && typeof l === 'object' && l.learning !== undefined ? { ...l, learning: unpackTrace(l.learning) } : b.log;
  // Decisions logged before the program-level holdout existed were never in it.
  return { response: { ...b.response, globalHoldout: b.response.globalHoldout ?? false, candidates: unpackCandidates(b.candidates) } as DecisionResponse, log };
}
