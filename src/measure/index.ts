/** Incrementality measurement: treatment against holdout in contribution margin, with honest statistics. */
export { incrementalityReport, readout, DEFAULT_MEASURE_SETTINGS, type IncrementalityReport, type IncrementalityQuery, type MeasureSettings, type Readout, type Verdict, type Comparison, type ArmSummary, type BreakdownRow, type OfferPnl, type ReportDeps } from './report.js';
export { stopLoss, type StopLossResult } from './guard.js';
export { UnitSums, difference, relativeLift, srm, pValue, confidenceSequence, sampleSize, zFor, type Interval } from './stats.js';
export { csvReport, readCsv, type CsvReport, type CsvReportSpec } from './csv.js';
export { formatIncrementality, formatCsvReport } from './format.js';
