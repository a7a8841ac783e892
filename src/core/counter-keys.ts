/** Names of the shared guardrail counters, one place so the commit step and the views agree. */
export const counterKeys = {
  issued: (offerId: string) => `g:${offerId}`,
  spent: (offerId: string) => `b:${offerId}`,
  daily: (offerId: string, day: string) => `d:${offerId}:${day}`,
  redeemed: (offerId: string) => `r:${offerId}`,
};
