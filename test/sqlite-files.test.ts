import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { createEngine, openStore } from '../src/index.js';

const mode = (p: string) => statSync(p).mode & 0o777;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('SQLite files are private to their owner (issue 10, item 14)', () => {
  it('a fresh database: folder 0700, file, log and shared memory 0600', async () => {
    const root = mkdtempSync(join(tmpdir(), 'offerpilot-perm-'));
    dirs.push(root);
    const path = join(root, 'data', 'nested', 'offerpilot.db');
    const store = openStore(path);
    try {
      await store.migrate();
      // The token secret lands in the file when no keys are configured: exactly what must not leak.
      await store.getOrCreateSetting('token_key.db1', () => 'secret');
      expect(existsSync(`${path}-wal`)).toBe(true);
      expect(mode(join(root, 'data'))).toBe(0o700);
      expect(mode(join(root, 'data', 'nested'))).toBe(0o700);
      for (const f of [path, `${path}-wal`, `${path}-shm`]) expect(mode(f), f).toBe(0o600);
    } finally {
      await store.close();
    }
  });

  it('an existing world-readable file is tightened on open, with a warning; an existing folder is left alone', async () => {
    const root = mkdtempSync(join(tmpdir(), 'offerpilot-perm-'));
    dirs.push(root);
    chmodSync(root, 0o755);
    const path = join(root, 'old.db');
    const old = new Database(path);
    old.pragma('journal_mode = WAL');
    old.exec('CREATE TABLE t (x)');
    old.close();
    chmodSync(path, 0o644);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const store = openStore(path);
    try {
      await store.migrate();
      expect(mode(path)).toBe(0o600);
      expect(mode(`${path}-wal`)).toBe(0o600);
      expect(mode(root)).toBe(0o755);
      expect(warn.mock.calls.some(([m]) => String(m).includes('readable by other users'))).toBe(true);
    } finally {
      warn.mockRestore();
      await store.close();
    }
  });
});

describe('token keys from the environment (issue 10, item 14)', () => {
  it('store no secret in the database, and a secret generated earlier is reported', async () => {
    const root = mkdtempSync(join(tmpdir(), 'offerpilot-perm-'));
    dirs.push(root);
    const path = join(root, 'k.db');
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const config = { logLevel: 'warn', tokenKeys: 'k1:from-env', stopLossCheckMs: 0, expirySweepMs: 0 } as const;
    const boot = async () => {
      const store = openStore(path);
      await store.migrate();
      return { store, engine: await createEngine({ store, logger, config }) };
    };
    const first = await boot();
    expect(await first.store.getSetting('token_key.db1')).toBeNull();
    await first.store.putSetting('token_key.db1', 'generated-before-keys-were-set');
    await first.engine.close();
    expect(lines.join('')).not.toContain('token_key.db1');
    const second = await boot();
    await second.engine.close();
    expect(lines.join('')).toContain('token_key.db1');
  });
});
