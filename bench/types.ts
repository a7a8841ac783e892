export interface CatalogFile {
  products: Array<Record<string, unknown>>;
  offers: Array<Record<string, unknown>>;
  campaigns: Array<Record<string, unknown>>;
}
