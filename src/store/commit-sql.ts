import type { DecisionRecord, IssuanceRecord } from '../decisions/port.js';
import type { DB } from './schema.js';

/** Issuance columns in insert order, each with the plan field it stores (both dialects insert these). */
export const ISSUANCE_COLUMNS = [
  ['id', 'id'],
  ['decision_id', 'decisionId'],
  ['offer_id', 'offerId'],
  ['offer_version', 'offerVersion'],
  ['campaign_id', 'campaignId'],
  ['subject_id', 'subjectId'],
  ['customer_id', 'customerId'],
  ['channel', 'channel'],
  ['placement', 'placement'],
  ['value', 'value'],
  ['discount', 'discount'],
  ['cost', 'cost'],
  ['reserved', 'reserved'],
  ['points', 'points'],
  ['liability_day', 'liabilityDay'],
  ['issued_at', 'issuedAt'],
  ['expires_at', 'expiresAt'],
  ['status', 'status'],
  ['code', 'code'],
] as const satisfies ReadonlyArray<readonly [keyof DB['issuances'], keyof IssuanceRecord]>;

/** Decision log columns in insert order, each with the plan field it stores; flags are stored as 0/1. */
export const DECISION_COLUMNS = [
  ['id', 'id'],
  ['request_id', 'requestId'],
  ['created_at', 'createdAt'],
  ['campaign_id', 'campaignId'],
  ['campaign_version', 'campaignVersion'],
  ['subject_id', 'subjectId'],
  ['customer_id', 'customerId'],
  ['anonymous_id', 'anonymousId'],
  ['placement', 'placement'],
  ['channel', 'channel'],
  ['holdout', 'holdout'],
  ['personalized', 'personalized'],
  ['probability', 'probability'],
  ['policy', 'policy'],
  ['catalog_version', 'catalogVersion'],
  ['body', 'body'],
  ['offer_key', 'offerKey'],
  ['global_holdout', 'globalHoldout'],
] as const satisfies ReadonlyArray<readonly [keyof DB['decisions'], keyof DecisionRecord]>;

type Columns = ReadonlyArray<readonly [string, string]>;

/** `INSERT INTO table (columns) VALUES (placeholders)`, the placeholder of each column given by the dialect. */
export function insertSql(table: string, columns: Columns, placeholder: (field: string, index: number) => string): string {
  return `INSERT INTO ${table} (${columns.map(([c]) => c).join(', ')}) VALUES (${columns.map(([, f], i) => placeholder(f, i)).join(', ')})`;
}

/** An issuance's values in column order (for positional parameters). */
export function issuanceValues(iss: IssuanceRecord): unknown[] {
  return ISSUANCE_COLUMNS.map(([, f]) => iss[f]);
}

/** A decision's values in column order (for positional parameters), flags as 0/1. */
export function decisionValues(d: DecisionRecord): unknown[] {
  return DECISION_COLUMNS.map(([, f]) => {
    const v = d[f];
    return typeof v === 'boolean' ? (v ? 1 : 0) : v;
  });
}
