import { actorId, SYSTEM_ACTOR, type Actor } from '../auth/principal.js';
import { OfferpilotError } from '../core/errors.js';
import { parseInput } from '../core/validate.js';
import type { IdGenerator } from '../ids/index.js';
import type { Clock } from '../core/runtime.js';
import type { CatalogPort } from './port.js';
import {
  CampaignCreateSchema,
  CampaignSpecSchema,
  OfferCreateSchema,
  OfferSpecSchema,
  ProductSchema,
  TRANSITIONS,
  type Campaign,
  type Offer,
  type Product,
  type ProductView,
  type Status,
} from '../core/catalog.js';
import { compileOffer } from '../core/snapshot.js';
import { z } from 'zod';

const ProductBatchSchema = z.array(ProductSchema).min(1).max(10_000);

/** Derived product figures: unit contribution margin and days of inventory cover. */
export function productView(p: Product): ProductView {
  const unitMargin = p.price - p.unitCost - p.fulfilmentCost;
  return {
    ...p,
    unitMargin,
    marginPct: p.price > 0 ? Math.round((unitMargin / p.price) * 10_000) / 100 : null,
    daysOfCover: p.inventoryOnHand !== undefined && p.dailySalesRate ? Math.round((p.inventoryOnHand / p.dailySalesRate) * 10) / 10 : null,
  };
}

/** Offers, campaigns and products: validation, versioning and lifecycle. */
export class CatalogService {
  constructor(
    private readonly store: CatalogPort,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
    private readonly onChange: () => void,
  ) {}

  /** Creates an offer (version 1). A broken eligibility rule is rejected here, never at decision time. */
  async createOffer(input: unknown, actor: Actor = SYSTEM_ACTOR): Promise<Offer> {
    const parsed = parseInput(OfferCreateSchema, input);
    const { id, status, ...spec } = parsed as typeof parsed & { id?: string; status?: 'draft' | 'live' };
    if (id && (await this.store.getVersioned('offer', id))) throw new OfferpilotError('CONFLICT', `Offer ${id} already exists`, [{ path: 'id', message: 'taken' }]);
    const now = new Date(this.clock.now()).toISOString();
    const offer: Offer = { ...spec, id: id ?? this.ids('offer'), status: status ?? 'draft', version: 1, createdAt: now, updatedAt: now };
    await this.checkOffer(offer);
    await this.store.putVersion('offer', offer, actorId(actor));
    this.onChange();
    return offer;
  }

  /** Replaces an offer's definition, creating a new immutable version. */
  async updateOffer(id: string, input: unknown, actor: Actor = SYSTEM_ACTOR): Promise<Offer> {
    const current = await this.getOffer(id);
    if (current.status === 'archived') throw new OfferpilotError('ARCHIVED', `Offer ${id} is archived`);
    const spec = parseInput(OfferSpecSchema, input);
    const offer: Offer = { ...spec, id, status: current.status, version: current.version + 1, createdAt: current.createdAt, updatedAt: new Date(this.clock.now()).toISOString() };
    await this.checkOffer(offer);
    await this.store.putVersion('offer', offer, actorId(actor));
    this.onChange();
    return offer;
  }

  private async checkOffer(offer: Offer): Promise<void> {
    compileOffer(offer); // throws INVALID_RULE with the offending position
    const refs: Array<[string, string]> = [];
    if (offer.giftSku) refs.push(['giftSku', offer.giftSku]);
    offer.bundleSkus?.forEach((s, i) => refs.push([`bundleSkus.${i}`, s]));
    for (const [path, sku] of refs) {
      if (!(await this.store.getProduct(sku))) {
        throw new OfferpilotError('UNKNOWN_PRODUCT_REFERENCE', `Product ${sku} is not in the catalog; upsert it first`, [{ path, message: `unknown SKU ${sku}` }]);
      }
    }
  }

  /** The current version of an offer, or a given one. */
  async getOffer(id: string, version?: number): Promise<Offer> {
    const o = await this.store.getVersioned('offer', id, version);
    if (!o) throw new OfferpilotError('OFFER_NOT_FOUND', `No offer ${id}${version ? ` version ${version}` : ''}`);
    return o;
  }

  listOffers(status?: Status): Promise<Offer[]> {
    return this.store.listVersioned('offer', status);
  }

  async offerVersions(id: string): Promise<Offer[]> {
    await this.getOffer(id);
    return this.store.listVersions('offer', id);
  }

  /** Who made each version of an offer or campaign, and its last status change. */
  async changeActors(kind: 'offer' | 'campaign', id: string): Promise<{ versions: Array<{ version: number; changedBy: string | null }>; statusChangedBy: string | null }> {
    return this.store.changeActors(kind, id);
  }

  /** Moves an offer through draft → live ⇄ paused → archived. */
  async transitionOffer(id: string, status: Status, actor: Actor = SYSTEM_ACTOR): Promise<Offer> {
    const o = await this.getOffer(id);
    await this.transition('offer', o, status, actor);
    return this.getOffer(id);
  }

  private async transition(kind: 'offer' | 'campaign', rec: { id: string; status: Status }, to: Status, actor: Actor): Promise<void> {
    if (rec.status === to) return;
    if (!TRANSITIONS[rec.status].includes(to)) {
      throw new OfferpilotError('INVALID_TRANSITION', `Cannot move ${kind} ${rec.id} from ${rec.status} to ${to}`, [
        { path: 'status', message: `allowed from ${rec.status}: ${TRANSITIONS[rec.status].join(', ') || 'none'}` },
      ]);
    }
    await this.store.setStatus(kind, rec.id, to, this.clock.now(), actorId(actor));
    this.onChange();
  }

  async createCampaign(input: unknown, actor: Actor = SYSTEM_ACTOR): Promise<Campaign> {
    const parsed = parseInput(CampaignCreateSchema, input);
    const { id, status, ...spec } = parsed as typeof parsed & { id?: string; status?: 'draft' | 'live' };
    if (id && (await this.store.getVersioned('campaign', id))) throw new OfferpilotError('CONFLICT', `Campaign ${id} already exists`, [{ path: 'id', message: 'taken' }]);
    await this.checkCampaign(spec.offers);
    const now = new Date(this.clock.now()).toISOString();
    const c: Campaign = { ...spec, id: id ?? this.ids('campaign'), status: status ?? 'draft', version: 1, createdAt: now, updatedAt: now };
    await this.store.putVersion('campaign', c, actorId(actor));
    this.onChange();
    return c;
  }

  async updateCampaign(id: string, input: unknown, actor: Actor = SYSTEM_ACTOR): Promise<Campaign> {
    const current = await this.getCampaign(id);
    if (current.status === 'archived') throw new OfferpilotError('ARCHIVED', `Campaign ${id} is archived`);
    const spec = parseInput(CampaignSpecSchema, input);
    await this.checkCampaign(spec.offers);
    // The holdout salt must not change under a running experiment unless asked to.
    spec.salt ??= current.salt ?? current.id;
    const c: Campaign = { ...spec, id, status: current.status, version: current.version + 1, createdAt: current.createdAt, updatedAt: new Date(this.clock.now()).toISOString() };
    await this.store.putVersion('campaign', c, actorId(actor));
    this.onChange();
    return c;
  }

  private async checkCampaign(offerIds: string[]): Promise<void> {
    for (const [i, id] of offerIds.entries()) {
      if (!(await this.store.getVersioned('offer', id))) {
        throw new OfferpilotError('UNKNOWN_OFFER_REFERENCE', `Offer ${id} does not exist`, [{ path: `offers.${i}`, message: `unknown offer ${id}` }]);
      }
    }
  }

  async getCampaign(id: string, version?: number): Promise<Campaign> {
    const c = await this.store.getVersioned('campaign', id, version);
    if (!c) throw new OfferpilotError('CAMPAIGN_NOT_FOUND', `No campaign ${id}${version ? ` version ${version}` : ''}`);
    return c;
  }

  listCampaigns(status?: Status): Promise<Campaign[]> {
    return this.store.listVersioned('campaign', status);
  }

  async campaignVersions(id: string): Promise<Campaign[]> {
    await this.getCampaign(id);
    return this.store.listVersions('campaign', id);
  }

  async transitionCampaign(id: string, status: Status, actor: Actor = SYSTEM_ACTOR): Promise<Campaign> {
    const c = await this.getCampaign(id);
    await this.transition('campaign', c, status, actor);
    return this.getCampaign(id);
  }

  /**
   * Inserts or updates products by SKU, up to 10,000 per call. Products keep no history, so the
   * actor has nowhere to be stored yet; it is taken so callers already say who changes prices.
   */
  async upsertProducts(input: unknown, _actor: Actor = SYSTEM_ACTOR): Promise<{ upserted: number }> {
    const products = parseInput(ProductBatchSchema, input);
    const seen = new Set<string>();
    products.forEach((p, i) => {
      if (seen.has(p.sku)) throw new OfferpilotError('VALIDATION_FAILED', `SKU ${p.sku} appears twice in the batch`, [{ path: `${i}.sku`, message: 'duplicate' }]);
      seen.add(p.sku);
    });
    const n = await this.store.upsertProducts(products, this.clock.now());
    this.onChange();
    return { upserted: n };
  }

  async getProduct(sku: string): Promise<ProductView> {
    const p = await this.store.getProduct(sku);
    if (!p) throw new OfferpilotError('PRODUCT_NOT_FOUND', `No product ${sku}`);
    return productView(p);
  }

  async listProducts(after: string | undefined, limit: number): Promise<ProductView[]> {
    return (await this.store.listProducts({ ...(after ? { after } : {}), limit })).map(productView);
  }
}
