import type { z } from 'zod';
import { formatPath, OfferpilotError, type ErrorDetail } from './errors.js';

/** The parts of a zod issue error details are built from (`keys` on an unknown-keys issue). */
export interface IssueLike {
  path: ReadonlyArray<PropertyKey>;
  message: string;
  code?: string;
  keys?: ReadonlyArray<PropertyKey>;
}

/** Parses input with a zod schema; failure becomes VALIDATION_FAILED naming every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix: ReadonlyArray<PropertyKey> = []): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw validationError(r.error.issues, prefix);
}

/**
 * Error details for zod issues. An unknown-keys issue sits on the enclosing object; it becomes one
 * detail per key, at the key's own path, so a misspelled field is named where it was written.
 */
export function issueDetails(issues: ReadonlyArray<IssueLike>, prefix: ReadonlyArray<PropertyKey> = []): ErrorDetail[] {
  return issues.flatMap((i) =>
    i.code === 'unrecognized_keys' && i.keys?.length
      ? i.keys.map((k) => ({ path: formatPath([...prefix, ...i.path, k]), message: `unknown field "${String(k)}"` }))
      : [{ path: formatPath([...prefix, ...i.path]), message: i.message }],
  );
}

/** Builds a VALIDATION_FAILED error from zod issues. */
export function validationError(issues: ReadonlyArray<IssueLike>, prefix: ReadonlyArray<PropertyKey> = []): OfferpilotError {
  const details = issueDetails(issues, prefix);
  const first = details[0];
  return new OfferpilotError('VALIDATION_FAILED', first ? `Invalid ${first.path}: ${first.message}` : 'The request is invalid', details);
}
