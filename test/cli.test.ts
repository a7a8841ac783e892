import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { startServerProcess } from './helpers/server-process.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env } });

describe('the offerpilot CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'offerpilot-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serve --demo on an empty database seeds the demo, prints a working key and curl, and answers a decision', async () => {
    const db = join(dir, 'demo.db');
    const started = Date.now();
    const server = await startServerProcess(['--demo', '--db', db]);
    try {
      const out = server.stdout;
      const key = /Dev API key \(admin, demo only\): (\S+)/.exec(out)?.[1];
      expect(key).toMatch(/^opk_/);
      const body = /-d '([^']+)'/.exec(out)?.[1];
      expect(body).toBeDefined();
      const r = await fetch(`${server.url}/v1/decide`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body! });
      expect(r.status).toBe(200);
      const d = (await r.json()) as { decisionId: string; campaignId: string; candidates: unknown[] };
      expect(d.decisionId).toMatch(/^dec_/);
      expect(d.campaignId).toBe('cmp_storefront');
      expect(d.candidates.length).toBe(10);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      await server.stop();
    }
    // A restart keeps the catalog (no second import) and prints the same dev key.
    const again = await startServerProcess(['--demo', '--db', db]);
    try {
      const key = /Dev API key \(admin, demo only\): (\S+)/.exec(again.stdout)?.[1];
      const r = await fetch(`${again.url}/v1/offers`, { headers: { authorization: `Bearer ${key}` } });
      expect(r.status).toBe(200);
      const offers = ((await r.json()) as { offers: Array<{ version: number }> }).offers;
      expect(offers).toHaveLength(10);
      expect(offers.every((o) => o.version === 1)).toBe(true);
    } finally {
      await again.stop();
    }
  });

  it('migrate, offers import and keys create work against a fresh database', async () => {
    const db = join(dir, 'cli.db');
    expect((await cli('migrate', '--db', db)).stdout).toMatch(/migrated \(sqlite\)/);
    const file = join(dir, 'catalog.json');
    writeFileSync(
      file,
      JSON.stringify({
        products: [{ sku: 'A', price: 1000, unitCost: 400 }],
        offers: [{ id: 'ofr_cli', status: 'live', name: 'CLI', type: 'content' }],
        campaigns: [{ id: 'cmp_cli', status: 'live', name: 'CLI', placements: ['home_hero'], offers: ['ofr_cli'], holdoutPct: 0 }],
      }),
    );
    const first = JSON.parse((await cli('offers', 'import', file, '--db', db)).stdout) as { offers: { created: number } };
    expect(first.offers.created).toBe(1);
    const second = JSON.parse((await cli('offers', 'import', file, '--db', db)).stdout) as { offers: { unchanged: number } };
    expect(second.offers.unchanged).toBe(1);
    const key = (await cli('keys', 'create', '--scopes', 'decide,read', '--db', db)).stdout.trim();
    expect(key).toMatch(/^opk_/);
    const server = await startServerProcess(['--db', db]);
    try {
      const r = await fetch(`${server.url}/v1/decide`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ anonymousId: 'a1', placement: 'home_hero', channel: 'web' }),
      });
      expect(r.status).toBe(200);
      expect(((await r.json()) as { offers: Array<{ offerId: string }> }).offers.map((o) => o.offerId)).toEqual(['ofr_cli']);
      const denied = await fetch(`${server.url}/v1/offers`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{}' });
      expect(denied.status).toBe(403);
    } finally {
      await server.stop();
    }
  });

  it('a broken catalog file fails with the offending field named', async () => {
    const db = join(dir, 'bad.db');
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ offers: [{ id: 'ofr_bad', name: 'Bad', type: 'percent_off', value: 10, eligibility: 'cart.subtotal >=' }] }));
    const err = await cli('offers', 'import', file, '--db', db).then(
      () => null,
      (e: { stderr: string; code: number }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/INVALID_RULE/);
    expect(err?.stderr).toMatch(/offers\.0\.eligibility/);
  });
});
