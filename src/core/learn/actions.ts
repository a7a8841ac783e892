/** The "no offer" action: a decision the learners weigh like any offer. */
export const NONE = 'none';

/** The key of an action: an offer id, with `@value` for an offer whose value the decision picks. */
export function actionKey(offerId: string, value: number | null): string {
  return value === null ? offerId : `${offerId}@${value}`;
}

/** The value an offer of `type` shows at a rung of `value`: none for types whose value is not the customer's to see. */
export function valueShown(type: string, value: number): number | null {
  return type === 'content' || type === 'free_shipping' || type === 'free_gift' ? null : value;
}

/** The offer id of an action key (null for "none"). */
export function offerOfAction(key: string): string | null {
  if (key === NONE) return null;
  const at = key.indexOf('@');
  return at < 0 ? key : key.slice(0, at);
}
