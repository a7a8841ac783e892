import { COHORTS } from './scenario.js';
import type { OracleShares, SimReport } from './run.js';

const money = (minor: number) => (minor / 100).toFixed(2);
const signed = (minor: number) => `${minor >= 0 ? '+' : '−'}${money(Math.abs(minor))}`;
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const int = (n: number) => n.toLocaleString('en-US');
const shares = (x: OracleShares) => `${x.all === null ? '—' : pct(x.all)} / ${x.window === null ? '—' : pct(x.window)}`;

function table(head: string[], rows: string[][], right: boolean[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The report as terminal tables: every policy on the same sessions, then CM/session per cohort. Money in major units. */
export function formatReport(r: SimReport): string {
  const out: string[] = [];
  out.push(`Scenario ${r.scenario} · seed ${r.seed} · ${int(r.sessions)} sessions · ${r.client} · ${(r.elapsedMs / 1000).toFixed(1)} s (${int(Math.round(r.sessionsPerSec))} sessions/s)`);
  out.push(`Expected values under the true model on the same sessions; "incr." is against no offer; "last" is the last ${int(r.window.sessions)} sessions.`);
  out.push('% of an oracle: all / last; the engine and FCFS on the engine\'s treated sessions (holdout excluded), the oracles there too.');
  out.push('');
  const capped = r.budgets.length > 0;
  if (capped) out.push('% capped oracle: of the observable oracle within the daily caps, on treated sessions for every policy (blankets ignore the caps).');
  out.push(
    table(
      ['policy', 'offer rate', 'conversion', 'AOV', 'offer cost/session', 'CM/session', 'incr. CM/session', 'incr. last', 'treated incr.', '% observable oracle', '% true oracle', ...(capped ? ['% capped oracle'] : [])],
      r.policies.map((p) => [
        p.label,
        pct(p.all.offerRate),
        pct(p.all.conversion),
        money(p.all.aov),
        money(p.all.discountCostPerSession),
        money(p.all.cmPerSession),
        signed(p.all.incrementalCmPerSession),
        signed(p.window.incrementalCmPerSession),
        signed(p.treated.incrementalCmPerSession),
        shares(p.ofOracle.observable),
        shares(p.ofOracle.true),
        ...(capped ? [p.ofOracle.withinCaps ? shares(p.ofOracle.withinCaps) : '—'] : []),
      ]),
      [false, true, true, true, true, true, true, true, true, true, true, true],
    ),
  );
  out.push(`Observable oracle: ${int(r.observableOracle.buckets)} buckets (cohort × placement × channel × device × cart value), an offer in ${int(r.observableOracle.offerBuckets)}.`);
  out.push('');
  out.push('CM/session by cohort (sessions: ' + COHORTS.map((c) => `${c} ${int(r.policies[0]!.byCohort[c].sessions)}`).join(', ') + ')');
  out.push(
    table(
      ['policy', ...COHORTS],
      r.policies.map((p) => [p.label, ...COHORTS.map((c) => money(p.byCohort[c].cmPerSession))]),
      [false, true, true, true, true],
    ),
  );
  const e = r.policies.find((p) => p.kind === 'engine');
  if (e?.measured) {
    const m = e.measured;
    out.push('');
    out.push(`Engine against its holdout (${pct(r.engine.holdoutShare)} of ${int(r.engine.decisions)} decisions), from sampled outcomes:`);
    out.push(`  treated ${int(m.treated.sessions)} sessions, ${int(m.treated.orders)} orders, CM/session ${money(m.treated.cmPerSession)}`);
    out.push(`  holdout ${int(m.holdout.sessions)} sessions, ${int(m.holdout.orders)} orders, CM/session ${money(m.holdout.cmPerSession)}`);
    out.push(`  measured incremental CM/session ${signed(m.incrementalCmPerSession)} ± ${money(m.ci95)} (95%); true ${signed(m.trueIncrementalCmPerSession)}`);
    const fails = Object.entries(r.engine.redemptionFailures).map(([k, v]) => `${k} ${v}`).join(', ');
    out.push(`  redemptions ${int(r.engine.redemptions)}${fails ? `; refused: ${fails}` : ''}; discount mismatches ${r.engine.discountMismatches}`);
  }
  if (r.calibration) {
    const c = r.calibration;
    const row = (label: string, x: { offers: number; estimatedPerOffer: number; truePerOffer: number }) => [label, int(x.offers), signed(x.estimatedPerOffer), signed(x.truePerOffer)];
    out.push('');
    out.push('The engine\'s estimate of the offers it chose (incremental CM per offer, uplift less cost) against the truth:');
    out.push(
      table(
        ['sessions', 'offers', 'estimated', 'true'],
        [row('all', c.all), row(`last ${int(r.window.sessions)}`, c.window), ...COHORTS.map((k) => row(k, c.byCohort[k]))],
        [false, true, true, true],
      ),
    );
  }
  for (const b of r.budgets) {
    const frac = (x: { median: number; min: number; daysExhausted: number }) => `median ${pct(x.median)}, earliest ${pct(x.min)} of the day; bound on ${x.daysExhausted} of ${b.days.length} days`;
    out.push('');
    out.push(`Budget of ${b.offerId}: daily liability cap ${money(b.dailyCap)}; the largest day used ${pct(b.maxShareOfCap)} of it.`);
    out.push(`  engine: cap first bound at ${frac(b.exhaustedAt)}`);
    out.push(`          incremental CM ${signed(b.engine.incrementalCm)}, liability ${money(b.engine.liability)}, expected cost ${money(b.engine.expectedCost)}`);
    out.push(`  FCFS @${b.fcfs.value ?? '—'}: cap first bound at ${frac(b.fcfs.exhaustedAt)}`);
    out.push(`          incremental CM ${signed(b.fcfs.incrementalCm)}, liability ${money(b.fcfs.liability)}, expected cost ${money(b.fcfs.expectedCost)}`);
    out.push(
      table(
        ['day', 'sessions', 'issued', 'liability', 'of cap', 'exhausted at'],
        b.days.map((d) => [d.day, int(d.sessions), int(d.issued), money(d.liability), pct(d.cap ? d.liability / d.cap : 0), d.exhaustedAt === null ? '—' : pct(d.exhaustedAt)]),
        [false, true, true, true, true, true],
      ),
    );
  }
  return out.join('\n');
}

/** A one-line progress bar for long runs (stderr, redrawn in place). */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): (done: number, total: number) => void {
  const started = performance.now();
  let last = 0;
  return (done, total) => {
    const now = performance.now();
    if (done < total && now - last < 100) return;
    last = now;
    const width = 30;
    const filled = Math.round((done / total) * width);
    const rate = done / ((now - started) / 1000);
    stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${int(done)}/${int(total)} sessions  ${int(Math.round(rate))}/s${done >= total ? '\n' : ''}`);
  };
}
