/** True when A and B are mutually assignable: a schema's inferred type and an interface agree. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Fails to compile unless T is true; `export type _x = Assert<Same<z.infer<typeof S>, I>>`. */
export type Assert<T extends true> = T;
