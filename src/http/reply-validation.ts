import type { FastifySerializerCompiler } from 'fastify/types/schema.js';
import type { z } from 'zod';
import { OfferpilotError } from '../core/errors.js';

/** Where a reply first departs from its schema, or null when it matches. */
export interface ReplyMismatch {
  path: string;
  message: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The first key the reply has and the schema does not know: zod strips unknown keys from plain
 * objects rather than refusing them, so a field the engine returns but the schema lacks (and a
 * generated client would never see) shows only as a key missing from the parsed output.
 */
function firstUnknownKey(input: unknown, output: unknown, path: Array<string | number>): Array<string | number> | null {
  if (input === output) return null;
  if (Array.isArray(input) && Array.isArray(output)) {
    for (let i = 0; i < input.length; i++) {
      const found = firstUnknownKey(input[i], output[i], [...path, i]);
      if (found) return found;
    }
    return null;
  }
  if (isObject(input) && isObject(output)) {
    for (const [k, v] of Object.entries(input)) {
      if (!Object.hasOwn(output, k)) return [...path, k];
      const found = firstUnknownKey(v, output[k], [...path, k]);
      if (found) return found;
    }
  }
  return null;
}

/** Checks a reply, as the client receives it (parsed JSON), against a route's response schema. */
export function replyMismatch(schema: z.ZodType, json: unknown): ReplyMismatch | null {
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    return { path: issue.path.join('.') || '(body)', message: issue.message };
  }
  const extra = firstUnknownKey(json, r.data, []);
  return extra ? { path: extra.join('.'), message: 'not declared in the response schema' } : null;
}

/**
 * A serializer compiler that checks every reply against the schema declared for its status
 * code; a mismatch becomes REPLY_SCHEMA_MISMATCH (a 500), logged with the route and the first
 * bad path. Meant for test suites: it parses every reply once more.
 */
export function replyValidatingSerializer(log: { error(obj: object, msg: string): void }): FastifySerializerCompiler<unknown> {
  return ({ schema, method, url, httpStatus }) =>
    (data) => {
      const body = JSON.stringify(data);
      const bad = replyMismatch(schema as z.ZodType, body === undefined ? undefined : JSON.parse(body));
      if (bad) {
        log.error({ method, url, status: httpStatus, path: bad.path, issue: bad.message }, 'reply does not match its declared schema');
        throw new OfferpilotError('REPLY_SCHEMA_MISMATCH', `${method} ${url} (${httpStatus}): the reply does not match its schema at ${bad.path}: ${bad.message}`, [{ path: bad.path, message: bad.message }]);
      }
      return body;
    };
}
