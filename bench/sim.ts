/**
 * Simulator throughput: sessions/s of a full simulation in process (decide and commit, outcome
 * sampled from the true model, impression / redemption / order events, every policy scored), on
 * the apparel scenario. Median of `rounds` runs, each on a fresh engine.
 *   npm run bench:build && node .bench-build/bench/sim.js
 */
import { inProcessClient, loadScenario, simulate } from '../src/sim/index.js';
import { fmt, measure, median, referenceWorkload } from './stats.js';

export async function runSimBench(opts: { sessions?: number; rounds?: number; scenario?: string } = {}) {
  const sessions = opts.sessions ?? 5000;
  const rounds = opts.rounds ?? 3;
  const scenario = loadScenario(opts.scenario ?? 'apparel');
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const client = await inProcessClient({ start: Date.parse('2026-11-01T00:00:00Z'), seed: 1, scenario });
    try {
      const t = performance.now();
      await simulate(scenario, client, { sessions, seed: 1, policy: { type: 'static' } });
      rates.push(sessions / ((performance.now() - t) / 1000));
    } finally {
      await client.close();
    }
  }
  return { sessionsPerSec: median(rates), rounds: rates, sessions, scenario: scenario.name };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const reference = median(await measure(referenceWorkload, 200_000, 5));
  const r = await runSimBench();
  console.log(`reference (sha256 1 KiB)   ${fmt(reference)} ops/s`);
  console.log(`simulator, ${r.scenario}, in process  ${fmt(r.sessionsPerSec)} sessions/s  (${(r.sessionsPerSec / reference).toFixed(5)} x reference)`);
}
