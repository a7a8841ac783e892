import type { CommitPlan, CommitRefusal, SubjectCheck } from '../decisions/port.js';

// Redemptions, releases and expiries reuse the decision counters' conditional increments.
export type { CounterOp } from '../decisions/port.js';

/** Compares the versions a decision used with the stored heads; returns the first that changed. */
export function staleVersion(
  checks: CommitPlan['versionChecks'],
  head: (kind: 'offer' | 'campaign', id: string) => { status: string; current_version: number } | undefined,
): { offerId: string; detail: string } | null {
  const firstOffer = checks.offers[0]?.offerId ?? '';
  if (checks.campaign) {
    const h = head('campaign', checks.campaign.id);
    if (!h || h.status !== 'live' || Number(h.current_version) !== checks.campaign.version) {
      return { offerId: firstOffer, detail: `campaign ${checks.campaign.id} is now ${h?.status ?? 'gone'} v${h?.current_version ?? '?'}` };
    }
  }
  for (const o of checks.offers) {
    const h = head('offer', o.offerId);
    if (!h || h.status !== 'live' || Number(h.current_version) !== o.version) {
      return { offerId: o.offerId, detail: `now ${h?.status ?? 'gone'} v${h?.current_version ?? '?'}` };
    }
  }
  return null;
}

/** Evaluates subject checks against the subject's issuance history (read under its lock). */
export function failedSubjectCheck(
  checks: SubjectCheck[],
  history: ReadonlyArray<{ id: string; offer_id: string; issued_at: number; status: string; expires_at: number }>,
  now: number,
): { offerId: string; reason: CommitRefusal; detail: string } | null {
  for (const ch of checks) {
    let ever = 0;
    let inWindow = 0;
    for (const h of history) {
      if (h.offer_id !== ch.offerId) continue;
      if (ch.notHeld && h.status === 'issued' && Number(h.expires_at) > now) return { offerId: ch.offerId, reason: 'ALREADY_HELD', detail: h.id };
      ever++;
      if (ch.frequency && Number(h.issued_at) > now - ch.frequency.windowMs) inWindow++;
    }
    if (ch.perCustomer !== null && ever >= ch.perCustomer) return { offerId: ch.offerId, reason: 'CUSTOMER_CAP', detail: `${ever} of ${ch.perCustomer}` };
    if (ch.frequency && inWindow >= ch.frequency.count) return { offerId: ch.offerId, reason: 'FREQUENCY_CAP', detail: `${inWindow} in window` };
  }
  return null;
}
