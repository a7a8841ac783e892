import type { z } from 'zod';
import { formatPath, OfferpilotError } from './index.js';

/** Parses input with a zod schema; failure becomes VALIDATION_FAILED naming every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix: ReadonlyArray<PropertyKey> = []): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw validationError(r.error.issues, prefix);
}

/** Builds a VALIDATION_FAILED error from zod issues. */
export function validationError(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>, prefix: ReadonlyArray<PropertyKey> = []): OfferpilotError {
  const details = issues.map((i) => ({ path: formatPath([...prefix, ...i.path]), message: i.message }));
  const first = details[0];
  return new OfferpilotError('VALIDATION_FAILED', first ? `Invalid ${first.path}: ${first.message}` : 'The request is invalid', details);
}
