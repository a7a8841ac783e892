import { describe, expect, it } from 'vitest';
import { markdownTable, runTable, validPolicies } from '../bench/sim-table.js';

describe('simulator policy table (npm run sim:table)', () => {
  it('runs scenarios × policies × seeds and prints policy rows, blankets and both oracles as markdown; a refused policy is a failure, not a row', async () => {
    expect(validPolicies()).toContainEqual({ type: 'static' });
    const o = { sessions: 200, window: 100, seeds: [1, 2] };
    const { tables, failures } = await runTable({ ...o, scenarios: ['grocery'], policies: [{ type: 'static' }, { type: 'no-such-policy' }] });
    expect(failures).toHaveLength(2);
    expect(failures[0]!.error).toContain('campaigns.0.policy.type');
    const rows = tables.get('grocery')!;
    expect(rows.get('engine {"type":"static"}')).toHaveLength(2);
    expect(rows.has('engine {"type":"no-such-policy"}')).toBe(false);
    // The observable oracle is its own 100%, on every seed.
    for (const c of rows.get('observable oracle (best action per bucket)')!) expect(c.obsAll).toBeCloseTo(1, 12);
    const md = markdownTable(tables, o);
    const lines = md.split('\n').filter((l) => l.startsWith('| grocery |'));
    expect(lines.length).toBe(rows.size);
    expect(md).toContain('| grocery | oracle (true model) |');
    // A blanket row: mean ± sd over the two seeds, in major units.
    expect(md).toMatch(/\| grocery \| Percent off @20 to all \| -\d+\.\d\d ± \d+\.\d\d \|/);
    // 100% of the true oracle for the true oracle itself, with no spread; no daily cap in grocery, so no capped oracle.
    expect(lines.find((l) => l.includes('oracle (true model)'))).toMatch(/100% ± 0 \| 100% ± 0 \| — \| — \|$/);
  });
});
