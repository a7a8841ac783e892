/** True when A and B are mutually assignable: a schema's inferred type and an interface agree. */
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type IsUnion<T> = [T] extends [UnionToIntersection<T>] ? false : true;

/**
 * Mutually assignable and, for objects, with the same keys at every level (unions are only
 * checked for assignability): assignability alone lets a schema omit an optional field.
 */
export type Same<A, B> =
  Mutual<A, B> extends true
    ? [A] extends [readonly unknown[]]
      ? [B] extends [readonly unknown[]]
        ? Same<A[number], B[number]>
        : false
      : IsUnion<A> extends true
        ? true
        : [A] extends [object]
          ? Mutual<keyof A, keyof B> extends true
            ? false extends { [K in keyof A]-?: K extends keyof B ? Same<NonNullable<A[K]>, NonNullable<B[K]>> : false }[keyof A]
              ? false
              : true
            : false
          : true
    : false;

/** Fails to compile unless T is true; `export type _x = Assert<Same<z.infer<typeof S>, I>>`. */
export type Assert<T extends true> = T;
