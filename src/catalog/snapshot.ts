import { compileRule, type CompiledRule } from '../rules/index.js';
import { policyFor, type Policy } from '../policy/index.js';
import { parseDuration } from '../runtime/index.js';
import type { Campaign, Offer, Product } from './schemas.js';

/** An offer version with its rule compiled and its times parsed, ready for the hot path. */
export interface CompiledOffer {
  offer: Offer;
  rule: CompiledRule | null;
  personalized: boolean;
  startsAt: number | null;
  endsAt: number | null;
  expiresAfterMs: number;
  frequencyWindowMs: number | null;
  /** Values to choose from; [0] for offer types without a value. */
  ladder: number[];
}

/** A campaign with its offers resolved. */
export interface CompiledCampaign {
  campaign: Campaign;
  offers: CompiledOffer[];
  startsAt: number | null;
  endsAt: number | null;
  salt: string;
  policy: Policy;
}

/** An immutable, in-memory view of the catalog that decisions read from. */
export interface CatalogSnapshot {
  version: number;
  products: ReadonlyMap<string, Product>;
  offers: ReadonlyMap<string, CompiledOffer>;
  /** Live campaigns, highest priority first. */
  campaigns: readonly CompiledCampaign[];
}

const time = (s: string | undefined): number | null => (s ? Date.parse(s) : null);

/** Compiles one offer version (rule parsed and type-checked once). */
export function compileOffer(offer: Offer): CompiledOffer {
  const rule = offer.eligibility ? compileRule(offer.eligibility) : null;
  return {
    offer,
    rule,
    personalized: rule?.personalized ?? false,
    startsAt: time(offer.startsAt),
    endsAt: time(offer.endsAt),
    expiresAfterMs: parseDuration(offer.expiresAfter)!,
    frequencyWindowMs: offer.caps.frequency ? parseDuration(offer.caps.frequency.window)! : null,
    ladder: offer.valueLadder ?? (offer.value !== undefined ? [offer.value] : [0]),
  };
}

/**
 * Builds a snapshot. `cache` holds compiled offers by id@version across rebuilds so a
 * catalog refresh does not recompile rules that did not change.
 */
export function buildSnapshot(
  version: number,
  offers: readonly Offer[],
  campaigns: readonly Campaign[],
  products: readonly Product[],
  cache: Map<string, CompiledOffer> = new Map(),
): CatalogSnapshot {
  const compiled = new Map<string, CompiledOffer>();
  for (const o of offers) {
    const key = `${o.id}@${o.version}`;
    let c = cache.get(key);
    if (!c || c.offer.status !== o.status) {
      c = c ? { ...c, offer: o } : compileOffer(o);
      cache.set(key, c);
    }
    compiled.set(o.id, c);
  }
  const live = campaigns
    .filter((c) => c.status === 'live')
    .map((c) => ({
      campaign: c,
      offers: c.offers.map((id) => compiled.get(id)).filter((x): x is CompiledOffer => x !== undefined),
      startsAt: time(c.startsAt),
      endsAt: time(c.endsAt),
      salt: c.salt ?? c.id,
      policy: policyFor(c.policy),
    }))
    .sort((a, b) => b.campaign.priority - a.campaign.priority || (a.campaign.id < b.campaign.id ? -1 : 1));
  return {
    version,
    products: new Map(products.map((p) => [p.sku, p])),
    offers: compiled,
    campaigns: live,
  };
}
