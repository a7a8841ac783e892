/**
 * Size of `offerpilot/core` as a browser would download it: src/core/index.ts bundled by esbuild
 * for the browser (ESM, minified, every dependency inlined), raw and gzipped at level 9.
 * A size, not a speed: it needs no quiet machine and is not part of the ratio suite.
 *   npm run bench:core-size
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Message } from 'esbuild';

/** The repository root: the nearest folder up with offerpilot's package.json (works from bench/ and .bench-build/bench/). */
export function repoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'offerpilot') return dir;
    if (dirname(dir) === dir) throw new Error(`no offerpilot package.json above ${from}`);
  }
}

export type CoreTarget = 'browser' | 'worker';

export interface CoreBundle {
  /** The bundled module (ESM); empty when the build failed. */
  code: string;
  errors: Message[];
  warnings: Message[];
}

/**
 * Bundles the core for a browser, or for a Web-standard worker (Cloudflare-style `worker`
 * export conditions first). Errors are returned, not thrown, so a test can show each of them:
 * a Node built-in reached from the core fails here with "Could not resolve".
 */
export async function bundleCore(target: CoreTarget = 'browser', entry: string = join(repoRoot(), 'src/core/index.ts')): Promise<CoreBundle> {
  try {
    const r = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      minify: true,
      target: 'es2022',
      conditions: target === 'worker' ? ['worker', 'browser'] : ['browser'],
      logLevel: 'silent',
    });
    return { code: r.outputFiles[0]?.text ?? '', errors: r.errors, warnings: r.warnings };
  } catch (e) {
    const failure = e as { errors?: Message[]; warnings?: Message[] };
    if (!failure.errors) throw e;
    return { code: '', errors: failure.errors, warnings: failure.warnings ?? [] };
  }
}

/** Raw and gzip -9 size of the browser bundle, bytes. */
export async function coreSize(): Promise<{ raw: number; gzip: number }> {
  const b = await bundleCore('browser');
  if (b.errors.length > 0) throw new Error(`core bundle failed: ${b.errors.map((m) => m.text).join('; ')}`);
  const bytes = Buffer.from(b.code, 'utf8');
  return { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await coreSize();
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  if (process.argv.includes('--json')) console.log(JSON.stringify(s));
  else {
    console.log(`offerpilot/core, esbuild browser ESM minified`);
    console.log(`raw     ${String(s.raw).padStart(8)} B  (${kib(s.raw)})`);
    console.log(`gzip -9 ${String(s.gzip).padStart(8)} B  (${kib(s.gzip)})`);
  }
}
