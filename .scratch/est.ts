// Per bucket: the final state's estimate of every action on the bucket's latest decision traces.
import Database from 'better-sqlite3';
import { linearEstimates } from '../src/core/learn/policies.js';
const db = new Database(process.argv[2]!, { readonly: true });
const st = JSON.parse((db.prepare('select state from policy_state').get() as { state: string }).state);
console.log('trials', st.trials, 'vocab', st.vocab.length, 'shadow', st.shadow);
const rows = db.prepare("select body from decisions where holdout=0 order by created_at desc limit 6000").all() as { body: string }[];
const agg = new Map<string, Map<string, { n: number; obj: number; p: number; sd: number; v: number }>>();
for (const r of rows) {
  const b = JSON.parse(r.body);
  const t = b.log?.learning; if (!t) continue;
  const co = t.k.find((x: string) => /^co:[^|]*\|pl:[^|]*$/.test(x));
  const cart = t.k.find((x: string) => x.startsWith(co + '|cart:'))?.slice(co.length + 1) ?? '?';
  const key = `${co} ${cart}`;
  const e = linearEstimates(st, null, t, 'x');
  let m = agg.get(key); if (!m) agg.set(key, (m = new Map()));
  const add = (a: string, x: { objective: number; p: number; sd: number; v: number }) => {
    let s = m!.get(a); if (!s) m!.set(a, (s = { n: 0, obj: 0, p: 0, sd: 0, v: 0 }));
    s.n++; s.obj += x.objective; s.p += x.p; s.sd += x.sd; s.v += x.v;
  };
  add('none', e.none); e.actions.forEach((x, j) => add(e.keys[j]!, x));
}
for (const [k, m] of [...agg].sort()) {
  const none = m.get('none')!;
  console.log(k, 'n=' + none.n, [...m].map(([a, s]) => `${a}: inc=${((s.obj - none.obj) / s.n).toFixed(0)} p=${(s.p / s.n).toFixed(3)} v=${(s.v / s.n).toFixed(0)} sd=${(s.sd / s.n).toFixed(0)}`).join(' | '));
}
