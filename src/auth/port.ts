import type { Store } from '../store/ports.js';

/** What API keys need from the store. */
export type AuthPort = Pick<Store, 'createKey' | 'findKeyByHash' | 'listKeys' | 'revokeKey'>;
