import type { Store } from '../store/ports.js';

/** What customer profiles, features and erasure need from the store. */
export type CustomersPort = Pick<Store, 'getCustomer' | 'putCustomer' | 'loadSubject' | 'eraseCustomer'>;
