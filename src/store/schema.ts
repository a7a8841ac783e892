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
  offers: { id: string; status: string; current_version: number; created_at: number; updated_at: number };
  offer_versions: { offer_id: string; version: number; spec: string; created_at: number };
  campaigns: { id: string; status: string; current_version: number; created_at: number; updated_at: number };
  campaign_versions: { campaign_id: string; version: number; spec: string; created_at: number };
  customers: { id: string; traits: string; consent: string; created_at: number; updated_at: number };
  api_keys: { id: string; name: string; hash: string; scopes: string; created_at: number; revoked_at: number | null };
  guard_counters: { key: string; used: number; updated_at: number };
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
  };
}
