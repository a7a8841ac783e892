import type { Store } from '../store/ports.js';

/** What deciding and the decision log need from the store. */
export type DecisionsPort = Pick<Store, 'loadSubject' | 'readCounters' | 'commitDecision' | 'findDecisionByRequestId' | 'getDecision' | 'listDecisions'>;
