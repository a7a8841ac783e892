import type { MeasureReads } from '../store/measure-reads.js';

/** What measurement needs from the store: the report reads and the stop-loss log. */
export type MeasurePort = MeasureReads;
