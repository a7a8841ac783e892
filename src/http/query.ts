import { z } from 'zod';

const isDate = (s: string) => z.iso.date().safeParse(s).success;
const isTimestamp = (s: string) => z.iso.datetime({ offset: true }).safeParse(s).success;

const ISO_HINT = 'an ISO 8601 date (2026-11-01, meaning 00:00 UTC) or timestamp with offset (2026-11-01T09:30:00Z, 2026-11-01T09:30:00+02:00)';

/**
 * A report window bound: one format for every endpoint, ISO 8601, as a calendar date or a
 * timestamp with offset. Both are checked as real dates (no month 13) and normalised to a UTC
 * timestamp, so a window compares by instant whatever form each bound took.
 */
export const IsoInstant = z
  .string()
  .max(40)
  .refine((s) => isDate(s) || isTimestamp(s), ISO_HINT)
  .transform((s) => new Date(isDate(s) ? `${s}T00:00:00.000Z` : s).toISOString());

/** A day bound for per-UTC-day reports: the same formats as IsoInstant, reduced to the UTC day (YYYY-MM-DD). */
export const IsoDay = IsoInstant.transform((s) => s.slice(0, 10));

/** Refuses a window whose `from` is after its `to` (or, when `strict`, equal to it), naming `from`. */
export function orderedWindow<T extends { from?: string; to?: string }>(q: T, ctx: z.RefinementCtx, strict: boolean): void {
  if (q.from === undefined || q.to === undefined) return;
  if (q.from > q.to || (strict && q.from === q.to)) {
    ctx.addIssue({ code: 'custom', path: ['from'], message: `must be ${strict ? 'before' : 'on or before'} to (${q.to})` });
  }
}
