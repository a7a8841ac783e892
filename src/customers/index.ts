export { cohortOf, computeFeatures, COHORTS, IMPRESSION_WINDOW_MS, type Cohort, type CustomerFeatures } from './features.js';
export type { FeatureTotals } from './port.js';
