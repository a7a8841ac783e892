import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { committedFigures, compareFigures, writeFigures, type Figures } from '../bench/suite.js';

const fig = (ratio: number) => ({ label: 'x', value: 1, unit: 'ops/s', ratio, baseline: 'reference' as const });

describe('bench:check', () => {
  it('fails a figure that fell by more than 30% of its committed ratio, and only that one', () => {
    const committed: Figures = { a: fig(0.1), b: fig(0.1), c: fig(0.1), d: fig(0.1) };
    const now: Figures = { a: fig(0.071), b: fig(0.069), c: fig(0.2) };
    const rows = compareFigures(committed, now);
    expect(rows.map((r) => [r.key, r.ok])).toEqual([
      ['a', true],
      ['b', false],
      ['c', true],
      ['d', true],
    ]);
    expect(rows.find((r) => r.key === 'b')!.change).toBeCloseTo(-0.31, 5);
    expect(rows.find((r) => r.key === 'd')!.note).toBe('not measured in this run');
  });

  it('writes the figures block into BENCHMARKS.md and reads back what it wrote, keeping the prose around it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'offerpilot-benchmd-'));
    try {
      const file = join(dir, 'BENCHMARKS.md');
      writeFileSync(file, '# Benchmarks\n\nprose before\n');
      writeFigures({ pure_decide: fig(0.123456) }, file);
      expect(committedFigures(file).figures.pure_decide!.ratio).toBe(0.1235);
      writeFileSync(file, readFileSync(file, 'utf8') + '\nprose after\n');
      writeFigures({ pure_decide: fig(0.2) }, file);
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('prose before');
      expect(text).toContain('prose after');
      expect(text.match(/bench-figures:start/g)).toHaveLength(1);
      expect(committedFigures(file).figures.pure_decide!.ratio).toBe(0.2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
