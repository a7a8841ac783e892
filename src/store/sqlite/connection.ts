import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** Opens one connection to an SQLite file with the settings every connection of the store uses, then `pragmas`. */
export function open(path: string, pragmas: readonly string[] = []): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode survives process crashes (an OS crash may lose the last commits).
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // Each write in a group commit runs in a savepoint; its undo journal stays in memory
  // instead of a temp file (measured: 2 of 3 page writes during event ingestion went there).
  db.pragma('temp_store = MEMORY');
  // 64 MiB page cache (default 2 MiB): index pages of the event and decision tables stay in
  // memory instead of being re-read from the OS on every batch.
  db.pragma('cache_size = -65536');
  // Checkpoints (which fsync) run on a background thread (checkpointer.ts); this is only the
  // safety net should that thread fall behind: about 400 MB of log.
  db.pragma('wal_autocheckpoint = 100000');
  db.pragma('journal_size_limit = 67108864');
  for (const p of pragmas) db.pragma(p);
  return db;
}
