import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Writer, WriteJob, WriteResult } from './writer.js';

/** Messages to the writer thread. */
export type ToWriter = { jobs: Array<[number, WriteJob]> } | { rewind: true } | { stop: true };
/** A job's answer from the writer thread. */
export type WriterReply = { id: number; ok: unknown } | { id: number; error: { name: string; message: string; code: string | undefined } };
/** Messages from it. */
export type FromWriter = { stopped: true } | { replies: WriterReply[] };

/**
 * The worker entry beside this module: compiled JavaScript when run from `dist/` (or the
 * benchmark build); from TypeScript sources (tests, development) the `.ts` file, loaded
 * through tsx (a development dependency) as the sources themselves are.
 */
function workerEntry(): { source: URL | string; eval: boolean } {
  const js = new URL('./writer-thread.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { source: js, eval: false };
  const ts = new URL('./writer-thread.ts', import.meta.url);
  if (!existsSync(fileURLToPath(ts))) throw new Error(`SQLite writer thread not found beside ${fileURLToPath(import.meta.url)}: run \`npm run build\``);
  // Loader hooks do not reach worker threads on Node 20, so this thread registers tsx's
  // require hook itself and loads the sources through it.
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs');
  return { source: `require(${JSON.stringify(tsx)}); require(${JSON.stringify(fileURLToPath(ts))});`, eval: true };
}

/** Rebuilds an error the writer thread reported, keeping its code (SQLITE_BUSY, …). */
function revive(e: { name: string; message: string; code: string | undefined }): Error {
  const err = new Error(e.message) as Error & { code?: string };
  err.name = e.name;
  if (e.code !== undefined) err.code = e.code;
  return err;
}

/**
 * Runs the store's writes on a worker thread with its own connection. Results and errors come
 * back as data; a job is answered only after its transaction committed, so an acknowledgement
 * still means durable. If the thread dies, what it had not answered fails (nothing of it was
 * acknowledged) and the next write starts a new thread.
 */
export function startWriterThread(path: string, pragmas: readonly string[] = []): Writer {
  let worker: Worker | null = null;
  let nextId = 1;
  // Each job remembers the thread it went to: a dying thread fails its own jobs, never those of
  // the thread that replaced it.
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void; worker: Worker | null }>();
  let outbox: Array<[number, WriteJob]> = [];
  let stopped: Promise<void> | null = null;

  const failAll = (of: Worker, e: Error) => {
    for (const [id, j] of waiting) {
      if (j.worker !== of) continue;
      waiting.delete(id);
      j.reject(e);
    }
  };
  const spawn = (): Worker => {
    const entry = workerEntry();
    const w = new Worker(entry.source, { workerData: { path, pragmas }, eval: entry.eval });
    w.on('message', (m: FromWriter) => {
      if ('replies' in m) {
        for (const r of m.replies) {
          const p = waiting.get(r.id);
          if (!p) continue;
          waiting.delete(r.id);
          if ('error' in r) p.reject(revive(r.error));
          else p.resolve(r.ok);
        }
        if (waiting.size === 0 && !stopped) w.unref();
      }
    });
    w.on('error', (e) => {
      if (worker === w) worker = null;
      failAll(w, Object.assign(new Error(`SQLite writer thread failed: ${e.message}`), { code: 'SQLITE_WRITER_DOWN' }));
    });
    w.on('exit', () => {
      if (worker === w) worker = null;
      failAll(w, Object.assign(new Error('SQLite writer thread exited'), { code: 'SQLITE_WRITER_DOWN' }));
    });
    return w;
  };
  // Jobs of one turn cross in one message. The thread keeps the process alive only while a
  // write is unanswered: an idle writer must not.
  const post = () => {
    if (outbox.length === 0) return;
    const jobs = outbox;
    outbox = [];
    const w = (worker ??= spawn());
    for (const [id] of jobs) {
      const j = waiting.get(id);
      if (j) j.worker = w;
    }
    w.ref();
    w.postMessage({ jobs } satisfies ToWriter);
  };

  return {
    run<J extends WriteJob>(job: J): Promise<WriteResult<J>> {
      if (stopped) return Promise.reject(new Error('The store is closed'));
      return new Promise<WriteResult<J>>((resolve, reject) => {
        const id = nextId++;
        waiting.set(id, { resolve, reject, worker: null });
        if (outbox.length === 0) queueMicrotask(post);
        outbox.push([id, job]);
      });
    },
    rewind(): void {
      worker?.postMessage({ rewind: true } satisfies ToWriter);
    },
    close(): Promise<void> {
      return (stopped ??= (async () => {
        post();
        const w = worker;
        if (!w) return;
        w.ref();
        const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
        w.postMessage({ stop: true } satisfies ToWriter);
        // The thread answers every queued job before it exits; only a thread that stopped
        // responding altogether is terminated (its unanswered jobs then fail, unacknowledged).
        await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000).unref())]);
        await w.terminate();
      })());
    },
  };
}
