/**
 * Schemas shared by several resources: ids, names, pages, timestamps and the problem body.
 * Request bodies are closed objects (`additionalProperties: false`), so an unknown field is a
 * 400; response bodies are closed too, so a record can never leak a field the document does
 * not name (a passphrase hash, say) — response validation would turn that into a 500.
 */
import { Type, type TObject, type TProperties, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { USER_NAME_PATTERN } from '../config.js';

/**
 * A string that is one of `values`, emitted as `{type: 'string', enum: [...]}`. TypeBox's
 * `Type.Union` of `Type.Literal`s becomes an `anyOf` of `const`s instead: the document then
 * hides the choice behind a list of one-value schemas, and the validator reports a typo as
 * "must be equal to constant" once per value without naming any of them. With `enum` the
 * document lists the values and the validator names them (errors.ts says them back).
 */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string; default?: T[number] } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

export const Uuid = Type.String({ format: 'uuid', description: 'A UUID.' });

/**
 * Characters no name may hold: C0 controls (NUL, tab, newline, ESC, ...), DEL and C1
 * controls, the line and paragraph separators, and the bidirectional embeddings, overrides
 * and isolates (U+202A–U+202E, U+2066–U+2069), which make a name display as another one
 * (`\u202Eexe.txt` shows as "txt.exe") in logs, lists and terminals. As a regular
 * expression character class body (JSON Schema patterns are ECMA-262).
 */
export const FORBIDDEN_NAME_CHARACTERS = '\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029\\u202A-\\u202E\\u2066-\\u2069';

/** Display names of projects, clusters, datasets, ...: printable, no leading/trailing space. */
export const NAME_PATTERN = `^[^\\s${FORBIDDEN_NAME_CHARACTERS}]([^${FORBIDDEN_NAME_CHARACTERS}]*[^\\s${FORBIDDEN_NAME_CHARACTERS}])?$`;

/** A name given in a request (projects, templates, datasets, clusters, checkpoints, tasks). */
export const Name = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: NAME_PATTERN,
  description: '1–128 characters, no leading or trailing whitespace, no control characters (C0, DEL, C1) and no bidirectional overrides or isolates (U+202A–U+202E, U+2066–U+2069).',
});

/**
 * A name as stored and shown: what `Name` allowed before it refused control and bidi
 * characters (issue 13), so records created earlier can still be listed (response
 * validation would turn them into 500s). Requests always take `Name`.
 */
export const StoredName = Type.String({ minLength: 1, maxLength: 128, description: 'The name (see the request field for what is accepted).' });

/** User names are login names: letters, digits and `._@-`. */
export const UserName = Type.String({ minLength: 1, maxLength: 64, pattern: USER_NAME_PATTERN, description: 'Login name: 1–64 of letters, digits and `._@-`, starting with a letter or digit.' });

export const Passphrase = Type.String({ minLength: 8, maxLength: 1024, description: 'At least 8 characters.' });

export const Timestamp = Type.String({ format: 'date-time', description: 'ISO-8601 UTC time.' });

export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

/** A closed object: unknown properties are rejected (requests) or never sent (responses). */
export function Closed<T extends TProperties>(properties: T, options: { description?: string; title?: string } = {}): TObject<T> {
  return Type.Object(properties, { ...options, additionalProperties: false });
}

export const PageQuery = {
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0, description: 'Items to skip.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Items per page (1–1000).' })),
};

/** `{items, total, offset, limit}`: every list response. */
export function PageOf<T extends TSchema>(item: T, title: string) {
  return Closed(
    {
      items: Type.Array(item),
      total: Type.Integer({ minimum: 0, description: 'Items in all pages.' }),
      offset: Type.Integer({ minimum: 0 }),
      limit: Type.Integer({ minimum: 1 }),
    },
    { title },
  );
}

const Found = Type.String({ description: 'What the request had in the field, as JSON text, cut after 64 characters (`…`). Absent when the field is missing.' });

/** `Allowed` (problem.ts): what the field accepts, in JSON Schema's words. */
const AllowedSchema = Closed(
  {
    type: Type.Optional(Type.String()),
    enum: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]), { description: 'The values allowed.' })),
    minimum: Type.Optional(Type.Number()),
    maximum: Type.Optional(Type.Number()),
    exclusiveMinimum: Type.Optional(Type.Number()),
    exclusiveMaximum: Type.Optional(Type.Number()),
    minLength: Type.Optional(Type.Integer({ minimum: 0 })),
    maxLength: Type.Optional(Type.Integer({ minimum: 0 })),
    pattern: Type.Optional(Type.String()),
    format: Type.Optional(Type.String()),
    minItems: Type.Optional(Type.Integer({ minimum: 0 })),
    maxItems: Type.Optional(Type.Integer({ minimum: 0 })),
    fields: Type.Optional(Type.Array(Type.String(), { description: 'The fields the object takes (or the query parameters the operation takes).' })),
    required: Type.Optional(Type.Array(Type.String(), { description: 'The fields the object must have.' })),
    mediaTypes: Type.Optional(Type.Array(Type.String(), { description: '415: the media types the operation takes.' })),
  },
  { description: 'What the field accepts: the constraints of its schema in the OpenAPI document.' },
);

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'URN naming the problem code.' }),
    title: Type.String(),
    status: Type.Integer({ minimum: 400, maximum: 599 }),
    detail: Type.String({ description: 'What went wrong, for humans.' }),
    code: Type.String({ description: 'Stable machine-readable code (docs/api.md).' }),
    requestId: Type.Optional(Type.String()),
    field: Type.Optional(Type.String({ description: 'The offending field, e.g. `/body/name`.' })),
    line: Type.Optional(Type.Integer({ minimum: 1 })),
    column: Type.Optional(Type.Integer({ minimum: 1 })),
    byteOffset: Type.Optional(Type.Integer({ minimum: 0 })),
    row: Type.Optional(Type.Integer({ minimum: 1 })),
    found: Type.Optional(Found),
    allowed: Type.Optional(AllowedSchema),
    errors: Type.Optional(Type.Array(Closed({ path: Type.String(), message: Type.String(), found: Type.Optional(Found), allowed: Type.Optional(AllowedSchema) }))),
    owner: Type.Optional(Type.String({ description: '`cluster_hosted_elsewhere`: the service instance (HANAMI_INSTANCE_ID) hosting the cluster.' })),
    leaseUntil: Type.Optional(Type.String({ format: 'date-time', description: '`cluster_hosted_elsewhere`: when its lease ends unless it renews it (it does while it works on the cluster).' })),
    limit: Type.Optional(
      Closed(
        { name: Type.String({ description: 'The setting that sets the limit, e.g. `HANAMI_TEMPLATE_MAX_WORK`.' }), value: Type.Number() },
        { description: 'Limits and quotas (`template_too_large`, `dataset_too_large`, `quota_exceeded`, ...): which limit was hit, and its value.' },
      ),
    ),
    estimate: Type.Optional(Type.Number({ description: '`template_too_large`: what the template would cost, in the unit of `limit`.' })),
    usage: Type.Optional(Type.Number({ description: 'Quotas: what is in use now, in the unit of `limit`.' })),
  },
  { additionalProperties: false, title: 'Problem', description: 'RFC 9457 problem details.' },
);

export const ProjectParams = Closed({ projectId: Uuid });

export const Empty = Closed({});
