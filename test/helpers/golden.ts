import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { DecisionResponse } from '../../src/index.js';

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
        holdoutPct: 0,
        ...c.campaign,
      },
    ],
  };
}

/** Asserts a decision against a case's expectations (a subset match, field by field). */
export function checkGolden(c: GoldenCase, d: DecisionResponse): void {
  const e = c.expect;
  if (e.holdout !== undefined) expect(d.holdout, 'holdout').toBe(e.holdout);
  if (e.personalized !== undefined) expect(d.personalized, 'personalized').toBe(e.personalized);
  if (e.campaignId !== undefined) expect(d.campaignId).toBe(e.campaignId);
  else expect(d.campaignId).toBe('cmp_golden');
  if (e.offers) {
    expect(d.offers.map((o) => o.offerId), 'chosen offers').toEqual(e.offers.map((o) => o.offerId));
    e.offers.forEach((o, i) => expect(d.offers[i]).toMatchObject(o));
    // Content is shown, never redeemed: it carries no token.
    for (const o of d.offers) if (o.type === 'content') expect(o.token).toBeNull();
    else expect(o.token).toMatch(/^v1\./);
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
  expect(d.probability).toBe(1);
}
