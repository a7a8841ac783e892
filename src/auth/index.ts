import { createHash, randomBytes } from 'node:crypto';
import { OfferpilotError } from '../core/errors.js';
import type { IdGenerator } from '../ids/index.js';
import type { ApiKeyRecord, AuthPort } from './port.js';
import { actorId, SCOPES, SYSTEM_ACTOR, type Actor, type Principal, type Scope } from './principal.js';

export { SCOPES, type Scope, actorId, CLI_ACTOR, SIMULATOR_ACTOR, STOP_LOSS_ACTOR, SYSTEM_ACTOR, type Actor, type KeyPrincipal, type Principal } from './principal.js';


const hash = (key: string) => createHash('sha256').update(key).digest('hex');

/** Creates, verifies and revokes API keys; only a hash of each key is stored. */
export class ApiKeys {
  private readonly cache = new Map<string, { principal: Principal | null; at: number }>();

  constructor(
    private readonly store: AuthPort,
    private readonly ids: IdGenerator,
    // Same order as the catalog refresh: a revocation from the CLI or another process is seen
    // within a second, while a busy key is still read from the store about once a second.
    private readonly cacheMs = 1000,
    /** Told of every key created or revoked, with who did it (the engine logs it). */
    private readonly audit?: (change: { action: 'key.create' | 'key.revoke'; keyId: string; actor: string }) => void,
  ) {}

  /** Creates a key; the plaintext is returned once and never stored. */
  async create(scopes: Scope[], name = 'unnamed', now = Date.now(), actor: Actor = SYSTEM_ACTOR): Promise<{ id: string; key: string; scopes: Scope[] }> {
    const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
    if (bad.length || scopes.length === 0) {
      throw new OfferpilotError('VALIDATION_FAILED', `Scopes must be some of ${SCOPES.join(', ')}`, [{ path: 'scopes', message: `unknown: ${bad.join(', ') || '(none given)'}` }]);
    }
    const key = `opk_${randomBytes(24).toString('base64url')}`;
    const id = this.ids('apiKey');
    await this.store.createKey({ id, name, hash: hash(key), scopes, createdAt: now, revokedAt: null });
    this.audit?.({ action: 'key.create', keyId: id, actor: actorId(actor) });
    return { id, key, scopes };
  }

  /** Who a live key acts for, or null. Cached briefly: a revocation takes effect within cacheMs. */
  async principalOf(key: string): Promise<Principal | null> {
    const h = hash(key);
    const now = Date.now();
    const hit = this.cache.get(h);
    if (hit && now - hit.at < this.cacheMs) return hit.principal;
    const rec = await this.store.findKeyByHash(h);
    // Frozen: one principal object is shared by every request of the key while it is cached.
    const principal: Principal | null = rec && rec.revokedAt === null ? Object.freeze({ kind: 'key', keyId: rec.id, scopes: Object.freeze(rec.scopes) as Scope[] }) : null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(h, { principal, at: now });
    return principal;
  }

  /** Scopes of a live key, or null. */
  async scopesOf(key: string): Promise<Scope[] | null> {
    return (await this.principalOf(key))?.scopes ?? null;
  }

  /** Every key, live and revoked, without its hash. */
  async list(): Promise<Array<Omit<ApiKeyRecord, 'hash'>>> {
    return (await this.store.listKeys()).map(({ hash: _h, ...k }) => k);
  }

  /** Revokes a key by id. */
  async revoke(id: string, now = Date.now(), actor: Actor = SYSTEM_ACTOR): Promise<boolean> {
    this.cache.clear();
    const revoked = await this.store.revokeKey(id, now);
    if (revoked) this.audit?.({ action: 'key.revoke', keyId: id, actor: actorId(actor) });
    return revoked;
  }
}

/** Whether granted scopes allow an endpoint needing `needed`. */
export function allows(granted: readonly Scope[], needed: Scope): boolean {
  return granted.includes('admin') || granted.includes(needed);
}
