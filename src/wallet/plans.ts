import { counterKeys } from '../core/counter-keys.js';
import { utcDay } from '../core/runtime.js';
import type { CounterMove, ExpiryWrite, Issuance } from './port.js';

const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** Counter moves that give back an amount previously reserved (never refused). */
export function releaseOps(offerId: string, day: string, amount: number): CounterMove[] {
  if (amount === 0) return [];
  return [
    { key: counterKeys.spent(offerId), amount: -amount, limit: UNLIMITED, offerId, reason: 'BUDGET_EXHAUSTED' as const },
    { key: counterKeys.daily(offerId, day), amount: -amount, limit: UNLIMITED, offerId, reason: 'DAILY_LIABILITY' as const },
  ].sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** What expiring one unredeemed issuance writes: its reservation is released and its liability becomes breakage. */
export function expiryWrite(iss: Pick<Issuance, 'id' | 'offerId' | 'liabilityDay' | 'reserved' | 'cost' | 'expiresAt'>): ExpiryWrite {
  return {
    issuanceId: iss.id,
    counterOps: releaseOps(iss.offerId, iss.liabilityDay, iss.reserved),
    ledger: {
      id: `${iss.id}:expire`,
      issuanceId: iss.id,
      offerId: iss.offerId,
      kind: 'expire',
      day: utcDay(iss.expiresAt),
      at: iss.expiresAt,
      liability: -iss.cost,
      cost: 0,
      points: 0,
      redemptionId: null,
    },
  };
}
