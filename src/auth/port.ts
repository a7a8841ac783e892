/** A stored API key: only the hash of its secret is kept. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  hash: string;
  scopes: string[];
  createdAt: number;
  revokedAt: number | null;
}

/** What API keys need from the store. */
export interface AuthPort {
  createKey(rec: ApiKeyRecord): Promise<void>;
  findKeyByHash(hash: string): Promise<ApiKeyRecord | null>;
  listKeys(): Promise<ApiKeyRecord[]>;
  /** Returns whether a live key was revoked. */
  revokeKey(id: string, at: number): Promise<boolean>;
}
