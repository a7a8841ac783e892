import type { SubjectIssuance } from './ports.js';

/** A subject's issuances: the one read that serves both the caps and the open wallet entries. */
export const HISTORY_SQL = 'SELECT id, offer_id, offer_version, issued_at, expires_at, status, value, code FROM issuances WHERE subject_id = ?';

/** A row of HISTORY_SQL. */
export interface HistoryRow {
  id: string;
  offer_id: string;
  offer_version: number;
  issued_at: number;
  expires_at: number;
  status: string;
  value: number | null;
  code: string | null;
}

/** Maps a history row to what the decision path reads. */
export function toIssuance(r: HistoryRow): SubjectIssuance {
  return {
    id: r.id,
    offerId: r.offer_id,
    version: Number(r.offer_version),
    issuedAt: Number(r.issued_at),
    expiresAt: Number(r.expires_at),
    status: r.status,
    value: r.value === null ? null : Number(r.value),
    code: r.code,
  };
}
