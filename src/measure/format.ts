import type { CsvReport } from './csv.js';
import type { IncrementalityReport, BreakdownRow } from './report.js';
import type { Interval } from './stats.js';

// The report marks what it cannot estimate as null; it is shown as such, never as a number.
const NA = 'n/a';
const INSUFFICIENT = 'insufficient data';
const money = (minor: number | null) => (minor === null ? NA : (minor / 100).toFixed(2));
const pct = (x: number | null, d = 2) => (x === null ? NA : `${(x * 100).toFixed(d)}%`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ci = (i: Interval | null, f: (x: number) => string) => (i === null ? INSUFFICIENT : `${f(i.estimate)} [${f(i.lower)}, ${f(i.upper)}]`);
const sig = (x: number) => (Math.abs(x) >= 1 ? x.toFixed(5) : x.toPrecision(5));

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((x) => '─'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

/** An incrementality report as terminal text (money in major units). */
export function formatIncrementality(r: IncrementalityReport): string {
  const out: string[] = [];
  out.push(`Incrementality ${r.arm === 'global' ? 'program-level holdout' : (r.campaignId ?? '(whole program)')} · ${r.from} → ${r.to} · ${pct(r.level, 0)} intervals over customers`);
  for (const w of r.warnings) out.push(`!! ${w}`);
  out.push('');
  const t = r.arms.treatment;
  const h = r.arms.holdout;
  out.push(
    table(
      ['', 'treatment', 'holdout', 'difference [CI]', 'lift [CI]'],
      [
        ['customers', int(t.customers), int(h.customers), '', ''],
        ['sessions', int(t.sessions), int(h.sessions), '', ''],
        ['conversion', pct(t.conversionRate), pct(h.conversionRate), ci(r.metrics.conversionRate.difference, (x) => pct(x, 3)), r.metrics.conversionRate.relativeLift ? ci(r.metrics.conversionRate.relativeLift, (x) => pct(x, 1)) : 'n/a'],
        ['AOV', money(t.aov), money(h.aov), ci(r.metrics.aov.difference, money), r.metrics.aov.relativeLift ? ci(r.metrics.aov.relativeLift, (x) => pct(x, 1)) : 'n/a'],
        ['revenue/session', money(t.revenuePerSession), money(h.revenuePerSession), ci(r.metrics.revenuePerSession.difference, money), r.metrics.revenuePerSession.relativeLift ? ci(r.metrics.revenuePerSession.relativeLift, (x) => pct(x, 1)) : 'n/a'],
        ['CM/session', money(t.cmPerSession), money(h.cmPerSession), ci(r.metrics.cmPerSession.difference, money), r.metrics.cmPerSession.relativeLift ? ci(r.metrics.cmPerSession.relativeLift, (x) => pct(x, 1)) : 'n/a'],
        ['discount cost', money(t.discountCost), money(h.discountCost), '', ''],
        ['other offer cost', money(t.otherOfferCost), money(h.otherOfferCost), '', ''],
        ['redemption rate', t.redemptionRate === null ? 'n/a' : pct(t.redemptionRate, 1), '', '', ''],
      ],
    ),
  );
  if (r.metrics.cmPerSession.sequential) out.push(`always-valid CM/session difference: ${ci(r.metrics.cmPerSession.sequential, money)}`);
  out.push('');
  out.push(`Incremental contribution margin: ${ci(r.incrementalCm, money)} · verdict: ${r.verdict} · detectable CM/session difference (80% power): ${r.minimumDetectableEffect === null ? INSUFFICIENT : money(r.minimumDetectableEffect)}`);
  out.push(`Sample-ratio check: ${r.srm.checks.map((c) => `${c.campaignId} holdout ${int(c.customers.holdout)}/${int(c.customers.holdout + c.customers.treatment)} (designed ${pct(c.holdoutShareDesigned, 1)}), p ${c.pValue.toPrecision(3)}${c.mismatch ? ' MISMATCH' : ' ok'}`).join('; ') || 'no campaign with a holdout'}`);
  if (r.breakdowns) {
    const rows = (title: string, xs: BreakdownRow[]) => {
      out.push('');
      out.push(title);
      out.push(
        table(
          ['', 'customers t/h', 'CM/session t', 'CM/session h', 'difference [CI]', 'incremental CM'],
          xs.map((x) => [x.key, `${int(x.treatment.customers)}/${int(x.holdout.customers)}`, money(x.treatment.cmPerSession), money(x.holdout.cmPerSession), ci(x.cmPerSession.difference, money), x.incrementalCm === null ? INSUFFICIENT : money(x.incrementalCm.estimate)]),
        ),
      );
    };
    rows('By cohort (at the window start)', r.breakdowns.cohort);
    rows('By placement', r.breakdowns.placement);
    rows('By channel', r.breakdowns.channel);
    rows('By offer and value (holdout: what treatment would have shown)', r.breakdowns.offerValue);
  }
  if (r.offers && r.offers.length > 0) {
    out.push('');
    out.push('Offer P&L');
    out.push(
      table(
        ['offer', 'issued', 'redeemed', 'discount cost', 'other cost', 'incr. revenue', 'incr. CM [CI]', 'incr. orders', 'cost/incr. order', 'issues exp./open', 'breakage', 'liability'],
        r.offers.map((o) => [
          o.offer,
          int(o.issued),
          int(o.redeemed),
          money(o.discountCost),
          money(o.otherOfferCost),
          o.incrementalRevenue === null ? INSUFFICIENT : money(o.incrementalRevenue.estimate),
          ci(o.incrementalCm, money),
          o.incrementalOrders === null ? INSUFFICIENT : o.incrementalOrders.estimate.toFixed(1),
          o.costPerIncrementalOrder === null ? 'n/a' : money(o.costPerIncrementalOrder),
          // Of all the offer's issues in the window (alone or stacked): expired / still open.
          o.issues === null ? 'n/a' : `${int(o.issues.expired)} / ${int(o.issues.open)}`,
          o.breakage === null ? 'n/a' : money(o.breakage),
          o.liabilityOutstanding === null ? 'n/a' : money(o.liabilityOutstanding),
        ]),
      ),
    );
  }
  return out.join('\n');
}

/** A CSV experiment report as terminal text (outcomes in the file's own units). */
export function formatCsvReport(r: CsvReport, file: string): string {
  const out: string[] = [];
  out.push(`${file}: ${r.arm} ∈ {${r.treatment.values.join(', ')}} (${int(r.treatment.units)}) against {${r.control.values.join(', ')}} (${int(r.control.units)}) · ${pct(r.level, 0)} Welch intervals`);
  if (r.srm) out.push(`Sample-ratio check: designed treatment share ${pct(r.srm.expectedTreatmentShare, 1)}, chi² ${r.srm.chi2.toFixed(3)}, p ${r.srm.pValue.toPrecision(3)}${r.srm.mismatch ? ' — MISMATCH: do not trust this comparison' : ' (ok)'}`);
  out.push('');
  out.push(
    table(
      ['outcome', 'treatment', 'control', 'difference [CI]', 'z', 'relative lift [CI]'],
      r.outcomes.map((o) => [o.outcome, sig(o.treatment.mean), sig(o.control.mean), ci(o.difference, sig), o.z === null ? NA : o.z.toFixed(2), o.relativeLift ? ci(o.relativeLift, (x) => pct(x, 1)) : 'n/a']),
    ),
  );
  return out.join('\n');
}
