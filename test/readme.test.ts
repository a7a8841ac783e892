import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

/**
 * The README's walkthrough, followed literally: start the engine as `npm start` does on a fresh
 * database, run the curl it prints, then run the "After the decision" block command by command in
 * one bash session, and hold every output against what the README shows for it. Only the port
 * (a free one instead of 8080) and the key placeholder (the printed dev key) are substituted.
 */
const README = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The fenced block of `lang` that follows the first occurrence of `marker`. */
function blockAfter(marker: string, lang: string): string {
  const at = README.indexOf(marker);
  if (at < 0) throw new Error(`README has no "${marker}"`);
  const open = README.indexOf('```' + lang + '\n', at);
  const close = README.indexOf('\n```', open + 4 + lang.length);
  return README.slice(open + 4 + lang.length, close + 1);
}

/**
 * Parses the README's abridged JSON: `…` stands for left-out members or elements (`{"a":1,…}`)
 * and, inside a string, for any characters (`"red_…"`).
 */
export function parseAbridged(text: string): unknown {
  const cleaned = text
    .replace(/,\s*…(?=\s*[}\]])/g, '')
    .replace(/…\s*,\s*/g, (m, offset: number) => (text[offset - 1] === '"' ? m : ''))
    .replace(/([{[])\s*…\s*([}\]])/g, '$1$2');
  return JSON.parse(cleaned);
}

const ID = /^([a-z]{2,4})_[0-9a-z]{16,}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** Whether `actual` shows what the README's abridged `expected` shows; returns the first difference. */
export function mismatch(expected: unknown, actual: unknown, path = '$'): string | null {
  if (typeof expected === 'string') {
    if (typeof actual !== 'string') return `${path}: expected a string like ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
    // Ids and timestamps differ on every run; the README shows one of their kind.
    const id = ID.exec(expected);
    if (id) return new RegExp(`^${id[1]}_[0-9a-z]+$`).test(actual) ? null : `${path}: expected a ${id[1]}_ id, got ${actual}`;
    if (ISO.test(expected)) return ISO.test(actual) ? null : `${path}: expected a timestamp, got ${actual}`;
    if (expected.includes('…')) {
      const re = new RegExp(`^${expected.split('…').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
      return re.test(actual) ? null : `${path}: expected ${expected}, got ${actual}`;
    }
    return expected === actual ? null : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array, got ${JSON.stringify(actual)}`;
    const keyed = expected.every((e) => typeof e === 'object' && e !== null && 'offerId' in e && !('issuanceId' in e));
    if (keyed) {
      // Candidates are shown abridged: each one shown must be there, by offer id.
      for (const e of expected as Array<{ offerId: string }>) {
        const a = (actual as Array<{ offerId?: string }>).find((x) => x?.offerId === e.offerId);
        if (!a) return `${path}: no element with offerId ${e.offerId}`;
        const m = mismatch(e, a, `${path}[${e.offerId}]`);
        if (m) return m;
      }
      return null;
    }
    if (expected.length !== actual.length) return `${path}: expected ${expected.length} elements, got ${actual.length}: ${JSON.stringify(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const m = mismatch(expected[i], actual[i], `${path}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null) return `${path}: expected an object, got ${JSON.stringify(actual)}`;
    for (const [k, v] of Object.entries(expected)) {
      if (!(k in actual)) return `${path}.${k}: missing`;
      const m = mismatch(v, (actual as Record<string, unknown>)[k], `${path}.${k}`);
      if (m) return m;
    }
    return null;
  }
  return Object.is(expected, actual) ? null : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

/** A shell command of a README block and the output its `# →` comment promises (if any). */
interface Step {
  command: string;
  expect: { status: number | null; body: string } | null;
}

/** Splits a README sh block into commands (joining `\` continuations) and their `# →` expectations. */
function steps(block: string): Step[] {
  const out: Step[] = [];
  let current: string[] = [];
  let arrow: string[] | null = null;
  const flushArrow = () => {
    if (arrow && out.length > 0) {
      const text = arrow.join(' ').trim();
      const m = /^(\d{3})\s+(.*)$/s.exec(text);
      out[out.length - 1]!.expect = m ? { status: Number(m[1]), body: m[2]! } : { status: null, body: text };
    }
    arrow = null;
  };
  for (const line of block.split('\n')) {
    const t = line.trim();
    if (t.startsWith('# →')) {
      flushArrow();
      arrow = [t.slice(3).trim()];
      continue;
    }
    if (arrow && t.startsWith('#') && /^#\s{2,}/.test(t)) {
      arrow.push(t.slice(1).trim());
      continue;
    }
    flushArrow();
    if (t === '' || (t.startsWith('#') && current.length === 0)) continue;
    current.push(line);
    if (!line.endsWith('\\')) {
      out.push({ command: current.join('\n'), expect: null });
      current = [];
    }
  }
  flushArrow();
  return out;
}

/** The JSON part of an expectation: from its first `{` to the matching last `}`. */
function expectedJson(body: string): unknown {
  const start = body.indexOf('{');
  const end = body.lastIndexOf('}');
  return parseAbridged(body.slice(start, end + 1));
}

function bash(script: string, cwd: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd, timeout: 30_000, maxBuffer: 10 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

const STATUS_MARK = '@@status=';

describe('the abridged-output matcher', () => {
  it('treats … as left-out members, elements and characters, and ids and timestamps by kind', () => {
    expect(parseAbridged('{"a":1,…,"b":[1,…],"c":"red_…"}')).toEqual({ a: 1, b: [1], c: 'red_…' });
    expect(mismatch(parseAbridged('{"a":1,…}'), { a: 1, z: 2 })).toBeNull();
    expect(mismatch(parseAbridged('{"a":1,…}'), { a: 2 })).toMatch(/\$\.a/);
    expect(mismatch({ id: 'dec_1m843c9na84s8xv0y93pe29d6' }, { id: 'dec_1m8stah7vjrk0f5hzftgsmrmf' })).toBeNull();
    expect(mismatch({ id: 'dec_1m843c9na84s8xv0y93pe29d6' }, { id: 'iss_1m8stah7vjrk0f5hzftgsmrmf' })).not.toBeNull();
    expect(mismatch({ t: 'v1.db1.…' }, { t: 'v1.k2.abc' })).not.toBeNull();
    expect(mismatch([{ offerId: 'x', selected: false }], [{ offerId: 'y' }, { offerId: 'x', selected: false }])).toBeNull();
    expect(mismatch([{ offerId: 'x', selected: false }], [{ offerId: 'x', selected: true }])).not.toBeNull();
    expect(mismatch([1, 2], [1, 2, 3])).not.toBeNull();
  });
});

describe('README walkthrough, followed literally', () => {
  let dir: string;
  let server: ServerProcess;
  let key: string;
  let port: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'op-readme-'));
    server = await startServerProcess(['--demo', '--db', join(dir, 'offerpilot.db')]);
    key = /Dev API key \(admin, demo only\): (\S+)/.exec(server.stdout)![1]!;
    port = new URL(server.url).port;
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const localize = (s: string) => s.replaceAll('8080', port);

  it('prints the banner the README shows', () => {
    const shown = blockAfter('seeds the demo catalog on first start and prints', '');
    const shownLines = shown.trim().split('\n').map((l) => l.replace(/opk_\S+/, 'opk_KEY').replace(/ \(store: .*\)$/, ''));
    const printed = server.stdout.trim().split('\n').map((l) => l.replace(/opk_[A-Za-z0-9_-]+/, 'opk_KEY').replace(/ \(store: .*\)$/, ''));
    expect(printed.slice(0, 4)).toEqual(shownLines.slice(0, 4).map(localize));
    // The printed curl is the README's, with the real key.
    expect(printed.slice(4).join('\n').replaceAll(key, 'opk_KEY')).toContain('"customerId":"cust_42"');
  });

  it('the printed curl answers what the README shows, and the walkthrough block does what its comments say', async () => {
    const printedCurl = server.stdout.split('\n').filter((l) => l.startsWith('  curl') || l.startsWith('    -d')).join('\n');
    const first = JSON.parse(await bash(printedCurl, ROOT)) as unknown;
    const shownDecision = parseAbridged(blockAfter('Run the printed `curl`', 'json'));
    expect(mismatch(shownDecision, first)).toBeNull();

    const block = blockAfter('A shop closes the loop', 'sh');
    const all = steps(block);
    expect(all.length).toBeGreaterThan(4);
    // One bash session, so variables (KEY, TOKEN) carry over; each command's output and status are fenced.
    const script = all
      .map((s, i) => {
        const cmd = localize(s.command).replace(/^KEY=opk_…/m, `KEY=${key}`);
        const isCurl = /^\s*curl /.test(cmd);
        const run = isCurl ? cmd.replace(/^(\s*)curl -s /, `$1curl -s -w '\\n${STATUS_MARK}%{http_code}' `) : cmd;
        return `${run}\necho; echo '@@step=${i}'`;
      })
      .join('\n');
    const out = await bash(script, ROOT);
    const outputs = out.split(/@@step=\d+\n?/);
    // Every `# →` line of the block is held against its command's output, none skipped.
    expect(all.filter((s) => s.expect).length).toBe((block.match(/# →/g) ?? []).length);
    all.forEach((s, i) => {
      if (!s.expect) return;
      const raw = outputs[i]!.trim();
      const m = new RegExp(`\\n?${STATUS_MARK}(\\d{3})$`).exec(raw);
      const status = m ? Number(m[1]) : null;
      const body = m ? raw.slice(0, m.index) : raw;
      if (s.expect.status !== null) expect({ step: s.command.split('\n')[0], status }).toEqual({ step: s.command.split('\n')[0], status: s.expect.status });
      const got = JSON.parse(body) as unknown;
      const diff = mismatch(expectedJson(s.expect.body), got);
      expect(diff, `step ${i}: ${s.command.split('\n')[0]}`).toBeNull();
    });
  });
});
