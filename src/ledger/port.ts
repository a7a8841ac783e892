import type { Store } from '../store/ports.js';

/** What the liability ledger reads from the store. */
export type LedgerPort = Pick<Store, 'liabilityData'>;
