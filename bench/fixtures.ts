import type { CatalogFile } from './types.js';

/** A realistic 50-offer catalog: every offer type, ladders, caps, budgets, rules (some personalized), 200 SKUs. */
export function benchCatalog(offerCount = 50): CatalogFile {
  const categories = ['tops', 'bottoms', 'shoes', 'outerwear', 'accessories', 'home', 'beauty', 'kids'];
  const products = Array.from({ length: 200 }, (_, i) => ({
    sku: `SKU-${i}`,
    category: categories[i % categories.length]!,
    price: 1000 + ((i * 737) % 14000),
    unitCost: 400 + ((i * 311) % 5000),
    fulfilmentCost: 150 + (i % 5) * 50,
    inventoryOnHand: 50 + ((i * 97) % 900),
    dailySalesRate: 1 + (i % 20),
  }));
  const types = ['percent_off', 'amount_off', 'free_shipping', 'loyalty_points', 'content', 'bundle', 'free_gift', 'financing'] as const;
  const offers = Array.from({ length: offerCount }, (_, i) => {
    const type = types[i % types.length]!;
    const base: Record<string, unknown> = {
      id: `ofr_bench_${i}`,
      status: 'live',
      name: `Bench offer ${i}`,
      type,
      priority: i % 7,
      stackingGroup: `g${i % 4}`,
      caps: { global: 1_000_000_000, perCustomer: 5, ...(i % 3 === 0 ? { frequency: { count: 3, window: '1d' } } : {}) },
      budget: { total: 1e13, dailyLiability: 1e12 },
    };
    if (i % 5 === 0) base.eligibility = 'has(customer.traits.segment) && customer.traits.segment == "vip"';
    else if (i % 5 === 1) base.eligibility = 'cart.subtotal >= 3000 && context.device != "bot"';
    else if (i % 5 === 2) base.eligibility = '"tops" in cart.categories || cart.itemCount > 2';
    if (i % 6 === 0) base.scope = { type: 'categories', categories: [categories[i % categories.length]] };
    switch (type) {
      case 'percent_off':
        base.valueLadder = [5, 10, 15, 20];
        break;
      case 'amount_off':
        base.value = 500 + (i % 4) * 250;
        base.minCartValue = 2500;
        break;
      case 'loyalty_points':
        base.pointsMode = 'multiplier';
        base.value = 2;
        break;
      case 'bundle':
        base.value = 15;
        base.bundleSkus = [`SKU-${i}`, `SKU-${i + 1}`];
        break;
      case 'free_gift':
        base.giftSku = `SKU-${199 - i}`;
        base.expectedLift = 0.05;
        break;
      case 'financing':
        base.valueLadder = [3, 6];
        base.minCartValue = 8000;
        break;
      case 'free_shipping':
        base.shippingCost = 600;
        break;
      default:
        base.expectedLift = 0.01;
    }
    return base;
  });
  return {
    products,
    offers,
    campaigns: [
      {
        id: 'cmp_bench',
        status: 'live',
        name: 'Bench',
        placements: ['cart', 'pdp', 'home_hero'],
        offers: offers.map((o) => o.id as string),
        // The figures in BENCHMARKS.md were measured with the static policy (the default before learning).
        policy: { type: 'static' },
        holdoutPct: 10,
        marginFloorPct: 20,
        maxOffers: 2,
        model: { baseConversion: 0.05, baseConversionByPlacement: { cart: 0.25 }, elasticity: 3 },
      },
    ],
  };
}

/** A deterministic stream of decide requests with 1–4 line carts. */
export function benchRequests(n: number, customers = 100_000): Array<Record<string, unknown>> {
  return Array.from({ length: n }, (_, i) => {
    const lines = Array.from({ length: 1 + (i % 4) }, (_, j) => {
      const sku = (i * 31 + j * 17) % 200;
      return { sku: `SKU-${sku}`, quantity: 1 + (j % 2), unitPrice: 1000 + ((sku * 737) % 14000) };
    });
    return {
      customerId: `c${(i * 7919) % customers}`,
      placement: i % 3 === 0 ? 'pdp' : 'cart',
      channel: i % 2 ? 'web' : 'app',
      context: { device: i % 2 ? 'mobile' : 'desktop' },
      consent: { personalization: i % 4 !== 0 },
      traits: { segment: i % 10 === 0 ? 'vip' : 'regular' },
      cart: { lines },
    };
  });
}
