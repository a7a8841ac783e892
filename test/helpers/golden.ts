import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { DecisionResponse } from '../../src/index.js';
import { decideDefaults, loadConfig } from '../../src/config/index.js';
import { CampaignCreateSchema, OfferCreateSchema, ProductSchema, type Campaign, type Offer } from '../../src/core/catalog.js';
import { counterKeys, decide, type Decision, type DecideDefaults, type HeldEntry } from '../../src/core/decide.js';
import { DecideRequestSchema } from '../../src/core/request.js';
import { seededRandom } from '../../src/core/runtime.js';
import { buildSnapshot } from '../../src/core/snapshot.js';
import { subjectIdOf } from '../../src/core/subject.js';

export interface GoldenCase {
  name: string;
  now?: string;
  offers: Array<Record<string, unknown>>;
  campaign?: Record<string, unknown>;
  customers?: Array<{ id: string; traits?: Record<string, unknown>; consent?: Record<string, boolean> }>;
  before?: unknown[];
  request: Record<string, unknown>;
  expect: {
    holdout?: boolean;
    personalized?: boolean;
    campaignId?: string | null;
    offers?: Array<Record<string, unknown>>;
    reasons?: string[];
    candidates?: Record<string, string[]>;
    basket?: Record<string, unknown>;
    /** Probability the policy chose this action with (1 for the static policy). */
    probability: number;
  };
}

const file = JSON.parse(readFileSync(new URL('../golden/cases.json', import.meta.url), 'utf8')) as { products: unknown[]; cases: GoldenCase[] };
export const GOLDEN_CASES = file.cases;

/** The catalog file a case describes: shared products, its offers, one campaign over them. */
export function goldenCatalog(c: GoldenCase): Record<string, unknown> {
  return {
    products: file.products,
    offers: c.offers,
    campaigns: [
      {
        id: 'cmp_golden',
        status: 'live',
        name: 'Golden',
        placements: ['cart', 'checkout', 'home_hero', 'pdp', 'email_weekly'],
        offers: c.offers.map((o) => o.id),
        policy: { type: 'static' },
        holdoutPct: 0,
        ...c.campaign,
      },
    ],
  };
}

/** What a golden case checks, as the decide API answers it or as the core decided it (no tokens or codes there). */
export type GoldenDecision = Pick<DecisionResponse, 'holdout' | 'personalized' | 'campaignId' | 'reasons' | 'candidates' | 'basket' | 'probability'> & {
  offers: Array<Partial<DecisionResponse['offers'][number]> & { offerId: string; type: string }>;
};

/** Asserts a decision against a case's expectations (a subset match, field by field). */
export function checkGolden(c: GoldenCase, d: GoldenDecision, surface: 'api' | 'core' = 'api'): void {
  const e = c.expect;
  if (e.holdout !== undefined) expect(d.holdout, 'holdout').toBe(e.holdout);
  if (e.personalized !== undefined) expect(d.personalized, 'personalized').toBe(e.personalized);
  if (e.campaignId !== undefined) expect(d.campaignId).toBe(e.campaignId);
  else expect(d.campaignId).toBe('cmp_golden');
  if (e.offers) {
    expect(d.offers.map((o) => o.offerId), 'chosen offers').toEqual(e.offers.map((o) => o.offerId));
    // Tokens and coupon codes are made when a decision is committed, not by the core.
    const strip = ({ token: _t, code: _c, ...rest }: Record<string, unknown>) => rest;
    e.offers.forEach((o, i) => expect(d.offers[i]).toMatchObject(surface === 'api' ? o : strip(o)));
    // Content is shown, never redeemed: it carries no token.
    if (surface === 'api') {
      for (const o of d.offers) if (o.type === 'content') expect(o.token).toBeNull();
      else expect(o.token).toMatch(/^v1\./);
    }
  }
  if (e.reasons) expect(d.reasons.map((r) => r.code), 'decision reasons').toEqual(e.reasons);
  if (e.basket) expect(d.basket).toMatchObject(e.basket);
  if (e.candidates) {
    for (const [offerId, codes] of Object.entries(e.candidates)) {
      const cand = d.candidates.find((x) => x.offerId === offerId);
      expect(cand, `candidate ${offerId}`).toBeDefined();
      expect(cand!.reasons.map((r) => r.code), `reasons of ${offerId}`).toEqual(codes);
    }
    if (Object.keys(e.candidates).length === 0) expect(d.candidates).toEqual([]);
  }
  // Every offer of the campaign is explained, chosen or not.
  if (d.campaignId) expect(d.candidates.map((x) => x.offerId).sort()).toEqual(c.offers.map((o) => o.id as string).sort());
  expect(d.probability, 'probability').toBe(e.probability);
}

/** The engine's decide defaults from the default configuration (as the composition root builds them). */
const defaultDecideDefaults = (): DecideDefaults => decideDefaults(loadConfig({}, {}));

/**
 * Replays a case through `src/core` alone: the catalog file parsed with the catalog schemas and
 * compiled by buildSnapshot, each request decided by `decide` over an in-memory subject and
 * counters, and each earlier decision committed in memory as the store would (issuances, the
 * wallet, issued and reserved counters). No store, no engine.
 */
export function replayInCore(c: GoldenCase, at = '2026-11-23T12:00:00Z'): Decision {
  const now = Date.parse(c.now ?? at);
  const iso = new Date(now).toISOString();
  const cat = goldenCatalog(c) as { products: unknown[]; offers: unknown[]; campaigns: unknown[] };
  const versioned = <T extends { id?: string; status?: string }>(x: T) => ({ ...x, id: x.id!, status: x.status ?? 'draft', version: 1, createdAt: iso, updatedAt: iso });
  const offers = cat.offers.map((o) => versioned(OfferCreateSchema.parse(o)) as Offer);
  const campaigns = cat.campaigns.map((x) => versioned(CampaignCreateSchema.parse(x)) as Campaign);
  const snapshot = buildSnapshot({ version: 1, offers, campaigns, products: cat.products.map((p) => ProductSchema.parse(p)) });
  // No golden rule reads features; a case that did would need them computed here as the engine does.
  expect(snapshot.readsFeatures, 'golden cases read no features').toBe(false);
  const defaults = defaultDecideDefaults();
  const random = seededRandom(1);
  const counts = new Map<string, number>();
  const counters = { get: (k: string) => counts.get(k) ?? 0 };
  const bump = (k: string, n: number) => counts.set(k, (counts.get(k) ?? 0) + n);
  const profiles = new Map((c.customers ?? []).map((cu) => [cu.id, { traits: cu.traits ?? {}, consent: cu.consent ?? {} }]));
  const issuances = new Map<string, Array<{ offerId: string; issuedAt: number }>>();
  const wallets = new Map<string, HeldEntry[]>();
  let seq = 0;
  const run = (raw: unknown): Decision => {
    const request = DecideRequestSchema.parse(raw);
    const subjectId = subjectIdOf(request);
    const stored = (request.customerId !== undefined ? profiles.get(request.customerId) : undefined) ?? { traits: {}, consent: {} };
    const wallet = wallets.get(subjectId) ?? [];
    const d = decide({
      request,
      snapshot,
      subject: {
        subjectId,
        customerId: request.customerId ?? null,
        anonymousId: request.anonymousId ?? null,
        traits: request.traits ? { ...stored.traits, ...request.traits } : stored.traits,
        consent: request.consent ? { ...stored.consent, ...request.consent } : stored.consent,
        features: {},
        issuances: issuances.get(subjectId) ?? [],
        wallet: wallet.filter((w) => w.expiresAt > now),
      },
      counters,
      now,
      random,
      defaults,
    });
    // The commit, in memory: a held entry is presented again with nothing new; content is shown
    // (counted by caps) but is no wallet entry; every other offer is issued and reserved.
    for (const ch of d.chosen) {
      if (ch.held !== null) continue;
      const list = issuances.get(subjectId) ?? [];
      list.push({ offerId: ch.offerId, issuedAt: now });
      issuances.set(subjectId, list);
      if (ch.type !== 'content') wallets.set(subjectId, [...(wallets.get(subjectId) ?? []), { issuanceId: `iss_core${++seq}`, offerId: ch.offerId, version: ch.version, value: ch.value, expiresAt: ch.expiresAt, code: null }]);
      bump(counterKeys.issued(ch.offerId), 1);
      if (ch.reserve > 0) {
        bump(counterKeys.spent(ch.offerId), ch.reserve);
        bump(counterKeys.daily(ch.offerId, ch.guard.day), ch.reserve);
      }
    }
    return d;
  };
  for (const b of c.before ?? []) run(b);
  return run(c.request);
}

/** A core decision as a golden case checks it: the decide API's fields the core itself decides. */
export function coreView(d: Decision): GoldenDecision {
  return {
    holdout: d.holdout,
    personalized: d.personalized,
    campaignId: d.campaign?.id ?? null,
    reasons: d.reasons,
    candidates: d.candidates,
    basket: d.basket,
    probability: d.probability,
    offers: d.chosen.map((ch) => ({
      offerId: ch.offerId,
      version: ch.held?.version ?? ch.version,
      name: ch.name,
      type: ch.type,
      value: ch.value,
      discount: ch.discount,
      points: ch.points,
      score: ch.score,
      expiresAt: new Date(ch.expiresAt).toISOString(),
      fromWallet: ch.held !== null,
    })),
  };
}
