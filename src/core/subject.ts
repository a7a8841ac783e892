/**
 * Subjects: the unit caps, features, wallets and attribution count against. A customer id and an
 * anonymous (device) id live in separate namespaces, so the stored subject id carries its kind as
 * a prefix that is added here and nowhere else: any string is a valid customer id (including one
 * that starts with `a:`), and it can never be read back as an anonymous id.
 */
export type SubjectRef = { customerId: string } | { anonymousId: string };

/** The stored subject id of a customer. */
export const customerSubject = (customerId: string): string => `c:${customerId}`;

/** The stored subject id of an anonymous visitor (device). */
export const anonymousSubject = (anonymousId: string): string => `a:${anonymousId}`;

/** The stored subject id of a request naming a customer id or, failing that, an anonymous id. */
export function subjectIdOf(who: { customerId?: string | undefined; anonymousId?: string | undefined }): string {
  if (who.customerId !== undefined) return customerSubject(who.customerId);
  if (who.anonymousId !== undefined) return anonymousSubject(who.anonymousId);
  throw new TypeError('a subject needs a customerId or an anonymousId');
}
