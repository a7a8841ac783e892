import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { bundleCore, repoRoot } from '../bench/core-size.js';
import * as core from '../src/core/index.js';
import type { CatalogData, Decision, DecideRequest, DecisionResponse, Policy, SubjectState } from '../src/core/index.js';
import type { z } from 'zod';

/**
 * The shape of the house, checked: the core stays isomorphic (no Node, no store, only the
 * allowed packages) and bundles for a browser and a worker; src/ has no import circles;
 * server.ts holds no feature routes; the README names only files that exist.
 */
const ROOT = repoRoot();
const TSCONFIG = join(ROOT, 'tsconfig.json');

interface MadgeResult {
  obj(): Record<string, string[]>;
  circular(): string[][];
}
type Madge = (path: string, config: Record<string, unknown>) => Promise<MadgeResult>;
// madge is CommonJS without type declarations.
const madge = createRequire(import.meta.url)('madge') as Madge;

/** The packages the core may import: schemas, CEL, linear-time regular expressions, linear algebra for the learners. */
const CORE_PACKAGES = ['zod', '@marcbachmann/cel-js', 're2js', 'ml-matrix'];

interface Violation {
  /** The importing file, relative to the base folder, with forward slashes. */
  file: string;
  specifier: string;
  why: 'node built-in' | 'outside the core' | 'package not allowed';
}

const BUILTINS = new Set(builtinModules);
const packageOf = (spec: string): string => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');

/** Every module specifier a TypeScript file names: static, type-only, re-exports, dynamic import() and require(). */
function specifiersOf(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

/**
 * Walks the import graph from `coreDir` (madge follows relative imports, also out of the folder)
 * and classifies what each reached file imports. madge drops Node built-ins from its graph
 * without a word, so the specifiers are read from each file itself.
 */
async function coreViolations(coreDir: string, baseDir: string, allow: readonly string[]): Promise<Violation[]> {
  const graph = (await madge(coreDir, { baseDir, fileExtensions: ['ts'], tsConfig: TSCONFIG, detectiveOptions: { ts: { skipTypeImports: false } } })).obj();
  const out: Violation[] = [];
  for (const file of Object.keys(graph).sort()) {
    const abs = resolve(baseDir, file);
    for (const spec of specifiersOf(abs)) {
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const target = resolve(dirname(abs), spec);
        if (relative(coreDir, target).startsWith('..')) out.push({ file, specifier: spec, why: 'outside the core' });
      } else if (spec.startsWith('node:') || BUILTINS.has(spec) || BUILTINS.has(packageOf(spec))) {
        out.push({ file, specifier: spec, why: 'node built-in' });
      } else if (!allow.includes(packageOf(spec))) {
        out.push({ file, specifier: spec, why: 'package not allowed' });
      }
    }
  }
  return out;
}

const render = (vs: readonly Violation[]): string => vs.map((v) => `${v.file} imports '${v.specifier}' (${v.why})`).join('\n');

/** The import circles in `dir`, type-only imports included (a circle of types still ties the modules together). */
async function importCircles(dir: string, baseDir: string = ROOT): Promise<string[][]> {
  return (await madge(dir, { baseDir, fileExtensions: ['ts'], tsConfig: TSCONFIG, detectiveOptions: { ts: { skipTypeImports: false } } })).circular();
}

/** Routes under /v1 that a source registers directly (app.get('/v1/…'), app.post(`/v1/${x}`), route({ url: '/v1/…' })), by line. */
function v1Routes(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const lines = code.split('\n');
  const found: string[] = [];
  const call = /\.(?:get|post|put|patch|delete|head|options|all|route)\s*\(\s*$|\.(?:get|post|put|patch|delete|head|options|all)\s*\(\s*['"`]\/v1\b|\burl\s*:\s*['"`]\/v1\b/;
  lines.forEach((line, i) => {
    const next = lines[i + 1] ?? '';
    // A call whose path sits on the next line (`app.post(\n  '/v1/decide',`).
    if (call.test(line) && (!/\(\s*$/.test(line) || /^\s*['"`]\/v1\b/.test(next))) found.push(`${i + 1}: ${line.trim()}${/\(\s*$/.test(line) ? ` ${next.trim()}` : ''}`);
  });
  return found;
}

/** `src/...` paths the README names, with the line they are on; paths in the "Planned rooms" list are future folders. */
function readmeSrcPaths(readme: string): Array<{ line: number; path: string }> {
  const out: Array<{ line: number; path: string }> = [];
  let planned = false;
  readme.split('\n').forEach((text, i) => {
    if (/^#{1,6} /.test(text)) planned = /^#{1,6} Planned rooms\b/.test(text);
    if (planned) return;
    for (const m of text.matchAll(/(?<![\w./-])src\/[\w./-]*/g)) out.push({ line: i + 1, path: m[0].replace(/[.,:;]+$/, '') });
  });
  return out;
}

describe('offerpilot/core: the package entry', () => {
  it('re-exports every runtime export of every core module, as the same value', async () => {
    const dir = join(ROOT, 'src/core');
    const missing: string[] = [];
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'index.ts').sort()) {
      const mod = (await import(pathToFileURL(join(dir, f)).href)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(mod)) if ((core as Record<string, unknown>)[name] !== value) missing.push(`${f}: ${name}`);
    }
    expect(missing).toEqual([]);
    for (const name of ['decide', 'buildSnapshot', 'compileOffer', 'SNAPSHOT_SPEC_VERSION', 'compileRule', 'staticPolicy', 'policyFor', 'offerEconomics', 'inHoldout', 'REASONS', 'DecideRequestSchema', 'DecisionResponseSchema', 'systemClock', 'fixedClock', 'seededRandom', 'utcDay', 'OfferpilotError', 'ERRORS', 'subjectIdOf', 'applyOffers', 'allocate', 'packLog', 'unpackLog']) {
      expect(core, name).toHaveProperty(name);
    }
  });

  it('gives the shared formats as types, each inferred from its one schema (checked by tsc, which includes test/)', () => {
    expectTypeOf<DecisionResponse>().toEqualTypeOf<z.infer<typeof core.DecisionResponseSchema>>();
    expectTypeOf<DecideRequest>().toEqualTypeOf<z.infer<typeof core.DecideRequestSchema>>();
    expectTypeOf<CatalogData>().toHaveProperty('specVersion');
    expectTypeOf<Policy>().toHaveProperty('id');
    expect(core.SNAPSHOT_SPEC_VERSION).toBe(1);
  });

  it('is the "./core" export of the package, pointing at what the build makes of src/core/index.ts, and "." stays', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } };
    const built = './' + posix.join(build.compilerOptions.outDir, posix.relative(build.compilerOptions.rootDir, 'src/core/index.ts')).replace(/\.ts$/, '');
    expect(pkg.exports['./core']).toEqual({ types: `${built}.d.ts`, default: `${built}.js` });
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
    // Node's own resolver, self-referencing the package by name as a dependant would.
    const resolved = execFileSync(process.execPath, ['--input-type=module', '-e', "process.stdout.write(import.meta.resolve('offerpilot/core'))"], { cwd: ROOT, encoding: 'utf8' });
    expect(resolved).toBe(pathToFileURL(join(ROOT, built + '.js')).href);
  });
});

describe('the core imports no Node built-in, nothing outside src/core and only zod, cel-js and re2js', () => {
  let fixture: string;
  beforeAll(() => {
    fixture = mkdtempSync(join(tmpdir(), 'offerpilot-arch-'));
    mkdirSync(join(fixture, 'core'));
    mkdirSync(join(fixture, 'store'));
    writeFileSync(join(fixture, 'core/index.ts'), "export * from './good.js';\nexport * from './bad.js';\n");
    writeFileSync(join(fixture, 'core/good.ts'), "import { z } from 'zod';\nexport const S = z.string();\n");
    writeFileSync(
      join(fixture, 'core/bad.ts'),
      "import { readFileSync } from 'node:fs';\nimport path from 'path';\nimport { q } from '../store/query.js';\nimport type { Kysely } from 'kysely';\nexport const load = async () => (await import('node:crypto')).randomUUID() + String(readFileSync) + path.sep + String(q) + String(null as unknown as Kysely<never>);\n",
    );
    writeFileSync(join(fixture, 'store/query.ts'), "import pg from 'pg';\nexport const q = pg;\n");
  });
  afterAll(() => rmSync(fixture, { recursive: true, force: true }));

  it('the checker names each offending file and import on a known bad core', async () => {
    const vs = await coreViolations(join(fixture, 'core'), fixture, CORE_PACKAGES);
    expect(render(vs).split('\n')).toEqual([
      "core/bad.ts imports 'node:fs' (node built-in)",
      "core/bad.ts imports 'path' (node built-in)",
      "core/bad.ts imports '../store/query.js' (outside the core)",
      "core/bad.ts imports 'kysely' (package not allowed)",
      "core/bad.ts imports 'node:crypto' (node built-in)",
      // Reached through the core, so it is part of it too.
      "store/query.ts imports 'pg' (package not allowed)",
    ]);
  });

  it('src/core passes', async () => {
    const vs = await coreViolations(join(ROOT, 'src/core'), ROOT, CORE_PACKAGES);
    expect(render(vs)).toBe('');
  });

  it('esbuild refuses the bad core for the browser, naming the Node import', async () => {
    const b = await bundleCore('browser', join(fixture, 'core/bad.ts'));
    expect(b.errors.map((m) => m.text).join('\n')).toMatch(/node:fs/);
  });
});

describe('the core bundles for a browser and a Web-standard worker and runs from the bundle alone', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'offerpilot-core-bundle-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const target of ['browser', 'worker'] as const) {
    it(`${target}: builds without errors, and the bundle decides like the sources on a tiny catalog`, async () => {
      const b = await bundleCore(target);
      expect(b.errors.map((m) => m.text)).toEqual([]);
      // Self-contained: no import of a package or a Node module is left in the bundle.
      expect(b.code).not.toMatch(/\brequire\(|\bfrom\s*["'](?![./])/);
      const file = join(dir, `core-${target}.mjs`);
      writeFileSync(file, b.code);
      const bundled = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as typeof core;
      const run = (c: typeof core, sku: string): Decision => {
        const at = '2026-11-23T10:00:00.000Z';
        const offer = { ...c.OfferSpecSchema.parse({ name: 'Tees 10%', type: 'percent_off', value: 10, expectedLift: 1, eligibility: "cart.subtotal >= 1000 && cart.skus.exists(s, s.matches('^TEE'))" }), id: 'ofr_tee10', status: 'live' as const, version: 1, createdAt: at, updatedAt: at };
        const campaign = { ...c.CampaignSpecSchema.parse({ name: 'Cart', placements: ['cart'], offers: ['ofr_tee10'], holdoutPct: 0 }), id: 'cmp_cart', status: 'live' as const, version: 1, createdAt: at, updatedAt: at };
        const data: CatalogData = { specVersion: c.SNAPSHOT_SPEC_VERSION, version: 1, offers: [offer], campaigns: [campaign], products: [c.ProductSchema.parse({ sku, price: 2000, unitCost: 800 })] };
        const request = c.DecideRequestSchema.parse({ customerId: 'cust_1', placement: 'cart', channel: 'web', cart: { lines: [{ sku, quantity: 2, unitPrice: 2000 }] } });
        const subject: SubjectState = { subjectId: c.subjectIdOf(request), customerId: 'cust_1', anonymousId: null, traits: {}, consent: {}, features: {}, issuances: [] };
        const defaults = { marginFloorPct: 0, shippingCost: 500, pointValue: 1, pointsPerMajorUnit: 1, merchantFeeBpsPerMonth: 50 };
        return c.decide({ request, snapshot: c.buildSnapshot(data), subject, counters: { get: () => 0 }, now: Date.parse(at), random: c.seededRandom(1), defaults });
      };
      const d = run(bundled, 'TEE-001');
      expect(d.chosen.map((o) => [o.offerId, o.discount])).toEqual([['ofr_tee10', 400]]);
      expect(d).toEqual(run(core, 'TEE-001'));
      // The rule (CEL, RE2 `matches`) runs in the bundle too: no tee in the cart, no offer.
      const none = run(bundled, 'HAT-001');
      expect(none.chosen).toEqual([]);
      expect(none).toEqual(run(core, 'HAT-001'));
      // The bundle's errors are its own class: a wrong snapshot format fails with the stable code.
      expect(() => bundled.buildSnapshot({ specVersion: 99, version: 1, offers: [], campaigns: [], products: [] })).toThrow(bundled.OfferpilotError);
    });
  }
});

describe('src/ has no import circles', () => {
  it('madge finds the known circle in a fixture', async () => {
    const fx = mkdtempSync(join(tmpdir(), 'offerpilot-circle-'));
    try {
      writeFileSync(join(fx, 'a.ts'), "import type { B } from './b.js';\nexport interface A { b?: B }\n");
      writeFileSync(join(fx, 'b.ts'), "import { c } from './c.js';\nexport interface B { c: typeof c }\n");
      writeFileSync(join(fx, 'c.ts'), "import type { A } from './a.js';\nexport const c = (a: A) => a;\n");
      writeFileSync(join(fx, 'd.ts'), "import { c } from './c.js';\nexport const d = c;\n");
      expect(await importCircles(fx, fx)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    } finally {
      rmSync(fx, { recursive: true, force: true });
    }
  });

  it('none in src/', async () => {
    const circles = await importCircles(join(ROOT, 'src'));
    expect(circles.map((c) => [...c, c[0]].join(' → '))).toEqual([]);
  });
});

describe('server.ts registers no feature routes', () => {
  it('the check finds /v1 routes however they are written, and not other calls', () => {
    const sample = [
      "app.get('/health', async () => ({ ok: true }));",
      "if (!r.url.startsWith('/v1/')) return;",
      '// app.get(\'/v1/commented\')',
      "app.post(",
      "  '/v1/decide',",
      "  { config: { scope: 'decide' } },",
      ');',
      'app.get(`/v1/${v.path}/:id`, opts, handler);',
      "app.route({ method: 'GET', url: '/v1/things', handler });",
      'app.get(',
      "  '/openapi.json',",
      ');',
    ].join('\n');
    expect(v1Routes(sample)).toEqual(["4: app.post( '/v1/decide',", '8: app.get(`/v1/${v.path}/:id`, opts, handler);', "9: app.route({ method: 'GET', url: '/v1/things', handler });"]);
  });

  it('src/http/server.ts has none (the features register them in their routes.ts)', () => {
    expect(v1Routes(readFileSync(join(ROOT, 'src/http/server.ts'), 'utf8'))).toEqual([]);
  });
});

describe('README', () => {
  it('names only src/ paths that exist (planned rooms aside)', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const paths = readmeSrcPaths(readme);
    expect(paths.length).toBeGreaterThan(10);
    expect(paths.filter((p) => !existsSync(join(ROOT, p.path))).map((p) => `README.md:${p.line} ${p.path}`)).toEqual([]);
    expect(readmeSrcPaths('see `src/nowhere/x.ts`.\n### Planned rooms\n- `src/later/`\n## Next\n`src/core/`')).toEqual([
      { line: 1, path: 'src/nowhere/x.ts' },
      { line: 5, path: 'src/core/' },
    ]);
  });
});
