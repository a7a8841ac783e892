// Worker-thread entry: owns the write connection of one SQLite file for its process, so the
// statements of every group commit run beside the request thread instead of on it.
import { parentPort, workerData } from 'node:worker_threads';
import { open } from './connection.js';
import { createWriter, type WriteJob, type Writer } from './writer.js';
import type { FromWriter, ToWriter, WriterReply } from './writer-client.js';

const port = parentPort!;
const data = workerData as { path: string; pragmas: string[] };
const conn = open(data.path, data.pragmas);
// Prepared on the first job (the tables exist by then), so a failure is that job's answer.
let writer: Writer | null = null;

// Replies of one turn go out in one message.
let replies: WriterReply[] = [];
const flushReplies = () => {
  if (replies.length === 0) return;
  const out = replies;
  replies = [];
  port.postMessage({ replies: out } satisfies FromWriter);
};
// Jobs not yet answered; stopping waits for them so no committed write goes unacknowledged.
let unanswered = 0;
let drained: (() => void) | null = null;
const send = (r: WriterReply) => {
  if (replies.length === 0) queueMicrotask(flushReplies);
  replies.push(r);
  if (--unanswered === 0) drained?.();
};
const errorData = (e: unknown) => {
  const err = e as { name?: string; message?: string; code?: unknown };
  return { name: String(err?.name ?? 'Error'), message: String(err?.message ?? e), code: typeof err?.code === 'string' ? err.code : undefined };
};

port.on('message', (m: ToWriter) => {
  if ('jobs' in m) {
    for (const [id, job] of m.jobs as Array<[number, WriteJob]>) {
      unanswered++;
      let w: Writer;
      try {
        w = writer ??= createWriter(conn);
      } catch (e) {
        send({ id, error: errorData(e) });
        continue;
      }
      w.run(job).then(
        (ok) => send({ id, ok }),
        (e: unknown) => send({ id, error: errorData(e) }),
      );
    }
  } else if ('rewind' in m) {
    writer?.rewind();
  } else if ('stop' in m) {
    void (async () => {
      await writer?.close();
      if (unanswered > 0) await new Promise<void>((resolve) => (drained = resolve));
      flushReplies();
      conn.close();
      port.postMessage({ stopped: true } satisfies FromWriter);
      port.close();
    })();
  }
});
