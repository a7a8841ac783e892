/** Kysely table types; one schema for SQLite and PostgreSQL (times are epoch ms, money minor units). */
export interface DB {
  settings: { key: string; value: string };
  catalog_meta: { id: number; version: number };
  products: {
    sku: string;
    name: string | null;
    category: string | null;
    price: number;
    unit_cost: number;
    fulfilment_cost: number;
    inventory_on_hand: number | null;
    daily_sales_rate: number | null;
    updated_at: number;
  };
  offers: { id: string; status: string; current_version: number; created_at: number; updated_at: number; status_changed_by: string | null };
  offer_versions: { offer_id: string; version: number; spec: string; created_at: number; changed_by: string | null };
  campaigns: { id: string; status: string; current_version: number; created_at: number; updated_at: number; status_changed_by: string | null };
  campaign_versions: { campaign_id: string; version: number; spec: string; created_at: number; changed_by: string | null };
  customers: { id: string; traits: string; consent: string; created_at: number; updated_at: number };
  api_keys: { id: string; name: string; hash: string; scopes: string; created_at: number; revoked_at: number | null };
  guard_counters: { key: string; used: number; updated_at: number };
  policy_state: { campaign_id: string; version: number; state: string; updated_at: number };
  learning_stats: { campaign_id: string; version: number; watermark: number; body: string; updated_at: number };
  subjects: { id: string; seq: number };
  issuances: {
    id: string;
    decision_id: string;
    offer_id: string;
    offer_version: number;
    campaign_id: string;
    subject_id: string;
    customer_id: string | null;
    channel: string;
    placement: string;
    value: number | null;
    discount: number;
    cost: number;
    reserved: number;
    points: number;
    liability_day: string;
    issued_at: number;
    expires_at: number;
    status: string;
    code?: string | null;
  };
  decisions: {
    id: string;
    request_id: string | null;
    created_at: number;
    campaign_id: string | null;
    campaign_version: number | null;
    subject_id: string;
    customer_id: string | null;
    anonymous_id: string | null;
    placement: string;
    channel: string;
    holdout: number;
    personalized: number;
    probability: number;
    policy: string | null;
    catalog_version: number;
    body: string;
    offer_key: string | null;
    global_holdout: number;
  };
  campaign_guard_log: {
    id: string;
    campaign_id: string;
    at: number;
    action: string;
    evidence: string;
  };
  events: {
    id: string;
    type: string;
    subject_id: string;
    customer_id: string | null;
    session_id: string | null;
    occurred_at: number;
    received_at: number;
    order_id: string | null;
    offer_id: string | null;
    decision_id: string | null;
    campaign_id: string | null;
    holdout: number | null;
    attribution: string | null;
    amount: number | null;
    body: string;
  };
  orders: {
    order_id: string;
    event_id: string;
    subject_id: string;
    customer_id: string | null;
    occurred_at: number;
    subtotal: number;
    shipping: number;
    discount: number;
    cogs: number;
    margin: number;
    with_offer: number;
    decision_id: string | null;
    campaign_id: string | null;
    offer_id: string | null;
    holdout: number | null;
    attribution: string | null;
    /** Refunds and returns accepted against the order so far (never more than what was paid). */
    refunded?: number;
  };
  /** Events held back by ingestion (a refund before its order), with the event row they would store. */
  event_quarantine: {
    id: string;
    code: string;
    subject_id: string;
    order_id: string | null;
    received_at: number;
    event: string;
  };
  customer_features: {
    subject_id: string;
    orders: number;
    first_order_at: number | null;
    last_order_at: number | null;
    revenue: number;
    refunded: number;
    offer_orders: number;
    offer_discount: number;
    offer_subtotal: number;
    updated_at: number;
  };
  redemptions: {
    id: string;
    order_id: string;
    subject_id: string;
    customer_id: string | null;
    channel: string;
    status: string;
    created_at: number;
    rolled_back_at: number | null;
    discount: number;
    cost: number;
    points: number;
    body: string;
    /** Digest of the request (customer, channel, tokens, cart); null on rows from before it was kept. */
    fingerprint: string | null;
  };
  redemption_items: { redemption_id: string; issuance_id: string; offer_id: string; discount: number; cost: number; points: number };
  liability_ledger: {
    id: string;
    issuance_id: string;
    offer_id: string;
    kind: string;
    day: string;
    at: number;
    liability: number;
    cost: number;
    points: number;
    redemption_id: string | null;
  };
}
