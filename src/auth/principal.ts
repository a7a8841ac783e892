/** API key scopes. `admin` implies the others. */
export const SCOPES = ['decide', 'admin', 'read'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * Who a request acts for. Today only API keys authenticate; the `kind` tag leaves room for a
 * user with roles (`{ kind: 'user', userId, roles }`) without changing the routes that read it.
 */
export interface KeyPrincipal {
  kind: 'key';
  keyId: string;
  scopes: Scope[];
}
export type Principal = KeyPrincipal;

/**
 * Who made an administrative change, as recorded beside it: an API key (any principal is an
 * actor), or the system itself (CLI, simulator, library calls, timers such as the stop-loss).
 */
export type Actor = { kind: 'key'; keyId: string } | { kind: 'system'; name: string };

/** The actor of library calls that name none: the API stays backwards compatible. */
export const SYSTEM_ACTOR: Actor = Object.freeze({ kind: 'system', name: 'library' });
/** The command-line tool. */
export const CLI_ACTOR: Actor = Object.freeze({ kind: 'system', name: 'cli' });
/** The simulator's own setup. */
export const SIMULATOR_ACTOR: Actor = Object.freeze({ kind: 'system', name: 'simulator' });
/** The periodic stop-loss check. */
export const STOP_LOSS_ACTOR: Actor = Object.freeze({ kind: 'system', name: 'stop-loss' });

/** The actor as stored and shown (`changedBy`): a key's id (`key_…`), or `system:<name>`. */
export function actorId(actor: Actor): string {
  return actor.kind === 'key' ? actor.keyId : `system:${actor.name}`;
}
