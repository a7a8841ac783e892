import type { OpeInterval, OpeReport } from '../core/learn/ope.js';

const NAMES = { ips: 'IPS', snips: 'SNIPS', dr: 'DR' } as const;

/**
 * The report as a table, estimator by row. Decimals follow the logging mean's standard error
 * (two digits past its first significant one), so a click-rate log and a revenue log both read well.
 */
export function formatOpeReport(r: OpeReport, title: string): string {
  const se = r.logging.se;
  const dec = Number.isFinite(se) && se > 0 ? Math.min(8, Math.max(2, 2 - Math.floor(Math.log10(se)))) : 4;
  const num = (x: number) => (Number.isFinite(x) ? x.toFixed(dec) : 'n/a');
  const ci = (i: OpeInterval) => `${num(i.estimate)} [${num(i.lower)}, ${num(i.upper)}]`;
  const signed = (i: OpeInterval) => `${i.estimate >= 0 ? '+' : ''}${ci(i)}`;
  const pct = Math.round(r.level * 100);
  const head = ['estimator', `value [${pct}% CI]`, `Δ logging [${pct}% CI]`, 'vs logging', `Δ best constant [${pct}% CI]`, 'best constant', 'vs best'];
  const body = r.estimates.map((e) => [NAMES[e.estimator], ci(e.value), signed(e.vsLogging), e.verdictVsLogging, signed(e.vsBestConstant), e.bestConstant, e.verdictVsBestConstant]);
  const widths = head.map((h, j) => Math.max(h.length, ...body.map((b) => b[j]!.length)));
  const line = (cells: string[]) => cells.map((c, j) => c.padEnd(widths[j]!)).join('  ').trimEnd();
  const constants = r.actions.map((a) => `  ${a}: ${r.estimates.map((e) => `${NAMES[e.estimator]} ${ci(e.constants[a]!)}`).join('; ')}`);
  const lines = [
    title,
    `${r.n.toLocaleString('en-US')} logged rows, ${r.actions.length} actions; reward model: ${r.rewardModel.kind === 'ridge' ? 'per-action ridge on the context' : 'per-action means'}, ${r.rewardModel.folds}-fold cross-fitted`,
    `weights capped at ${r.clip.cap} (${r.clip.clippedRows.toLocaleString('en-US')} rows clipped; largest weight ${r.clip.maxWeight.toFixed(2)}); effective sample size ${Math.round(r.ess).toLocaleString('en-US')}`,
    ...(r.unloggedMass > 0 ? [`warning: ${(r.unloggedMass * 100).toFixed(1)}% of the candidate's probability is on actions never logged; their reward is unseen (counted as 0 by IPS/SNIPS)`] : []),
    `logging policy (mean logged reward): ${ci(r.logging)}`,
    '',
    line(head),
    ...body.map(line),
    '',
    'constant actions:',
    ...constants,
    '',
    `verdict against the best constant action: ${r.verdict} (better or worse only when every estimator's ${pct}% interval of the difference excludes 0)`,
  ];
  return lines.join('\n');
}
