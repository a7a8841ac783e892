import http from 'node:http';

export interface OpenLoopResult {
  offered: number;
  served: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

/**
 * Open-loop load at a constant rate: request i is due at start + i/rate and its latency is
 * measured from that due time, so a stalled server cannot hide its stall by slowing the sender
 * (no coordinated omission; autocannon's overallRate sends in bursts and overstates p99).
 */
export async function openLoop(opts: {
  url: string;
  rate: number;
  seconds: number;
  headers: Record<string, string>;
  body: (i: number) => string;
}): Promise<OpenLoopResult> {
  const target = new URL(opts.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const latencies: number[] = [];
  let errors = 0;
  const inflight = new Set<Promise<void>>();
  const start = performance.now();
  const total = Math.round(opts.rate * opts.seconds);
  const send = (i: number, due: number) => {
    const body = opts.body(i);
    const p = new Promise<void>((resolve) => {
      const req = http.request(
        { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { ...opts.headers, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) errors++;
            latencies.push(performance.now() - due);
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  };
  let i = 0;
  while (i < total) {
    const now = performance.now();
    while (i < total && start + (i * 1000) / opts.rate <= now) {
      send(i, start + (i * 1000) / opts.rate);
      i++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { offered: opts.rate, served: latencies.length / elapsed, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99), max: latencies.at(-1) ?? NaN, errors };
}
