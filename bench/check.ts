/**
 * Regression guard for developers before they land: runs the suite and compares every figure
 * (a ratio to a same-run baseline) with the one committed in BENCHMARKS.md; exits 1 if any fell
 * by more than 30%. Not part of the CI test run (it takes minutes and needs a quiet machine).
 *   npm run bench:check
 */
import { compareFigures, committedFigures, runSuite } from './suite.js';

const committed = committedFigures();
const { figures } = await runSuite();
const rows = compareFigures(committed.figures, figures);
console.log(`Against the figures committed on ${committed.measured} (fail below −30%):`);
for (const r of rows) {
  const change = r.change === null ? 'n/a' : `${r.change >= 0 ? '+' : ''}${(r.change * 100).toFixed(1)}%`;
  console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.key.padEnd(22)} was ${r.was.toPrecision(4).padStart(8)}  now ${r.now === null ? '     n/a' : r.now.toPrecision(4).padStart(8)}  ${change.padStart(7)}  ${r.note}`);
}
// Figures this run measured that the committed block does not hold yet (new benchmarks): shown, not judged.
for (const [key, f] of Object.entries(figures)) {
  if (!(key in committed.figures)) console.log(`  new  ${key.padEnd(22)} ${'not committed'.padStart(17)}  now ${f.ratio.toPrecision(4).padStart(8)}  (npm run bench -- --update records it)`);
}
const failed = rows.filter((r) => !r.ok);
if (failed.length > 0) {
  console.log(`${failed.length} figure(s) fell by more than 30%: ${failed.map((r) => r.key).join(', ')}`);
  process.exit(1);
}
console.log('No figure fell by more than 30%.');
