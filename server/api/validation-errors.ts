/**
 * Turns validation failures into messages that say what is allowed. express-openapi-validator
 * passes on AJV's messages ("must be equal to one of the allowed values", "must be >= 0")
 * with the field's path and the failing keyword, but drops AJV's `params` (the limit, the
 * allowed values) and never says what the request had. Both are in reach here: the field's
 * schema is in the OpenAPI document (the operation the validator matched), the value is in
 * the request. So every failure becomes: the field, what it had, and what it takes.
 */
import type { Allowed, ProblemDetail } from './problem.js';

/** A JSON Schema (or OpenAPI) object from the document: plain JSON. */
type Json = Record<string, unknown>;

/** A failure as the validator reports it: the field's path and AJV's keyword and message. */
export interface RawFailure {
  /** `/body/name`, `/query/limit`, `/params/clusterId`. */
  path: string;
  message: string;
  /** AJV keyword (`enum`, `minimum`, `required`, ...) when known. */
  keyword?: string;
}

/** What the failed request carried, and the operation it was checked against. */
export interface RequestInput {
  /** The operation object of the OpenAPI document, when the request matched one. */
  operation?: Json | undefined;
  body: unknown;
  query: unknown;
  params: unknown;
}

/** Echoed values are cut: a 15 KB bogus value must not come back whole in every error. */
export const FOUND_MAX_CHARS = 64;

/**
 * Characters JSON.stringify leaves as they are but that must not be echoed raw: DEL and C1
 * controls, the line and paragraph separators, bidirectional embeddings, overrides and
 * isolates (a U+202E in an error message reverses what follows it on the reader's screen).
 */
const UNSAFE_TO_ECHO = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE_TO_ECHO, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `text` cut after `max` characters (never inside a UTF-16 pair), with `…` when cut. */
function cutAt(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

/** A value as JSON text, cut after FOUND_MAX_CHARS characters, invisible controls escaped. */
export function foundText(value: unknown): string {
  // JSON has no Infinity: JSON.stringify would say null.
  const text = typeof value === 'number' && !Number.isFinite(value) ? String(value) : (JSON.stringify(value) ?? String(value));
  return escapeUnsafe(cutAt(text, FOUND_MAX_CHARS));
}

/** Text of the request (a path, a media type) echoed in a message, cut like every echoed value. */
export function cut(text: string, max = FOUND_MAX_CHARS): string {
  return escapeUnsafe(cutAt(text, max));
}

/**
 * Every double-quoted run in a message that is longer than FOUND_MAX_CHARS, cut. Messages
 * quote what the client sent (`dataset with name "…" already exists`, `unknown column "…"`);
 * this is the backstop that keeps any such echo short, wherever the message was written.
 */
export function cutQuoted(message: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const open = message.indexOf('"', at);
    if (open < 0) break;
    let close = open + 1;
    while (close < message.length && message[close] !== '"') close += message[close] === '\\' ? 2 : 1;
    if (close >= message.length) break;
    const inside = message.slice(open + 1, close);
    out += message.slice(at, open + 1) + cutAt(inside, FOUND_MAX_CHARS) + '"';
    at = close + 1;
  }
  return escapeUnsafe(out + message.slice(at));
}

/** A control or bidi character in `text` (the first), for a message that names it. */
export function forbiddenNameCharacter(text: string): { code: string; position: number } | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) {
      return { code: `U+${c.toString(16).toUpperCase().padStart(4, '0')}`, position: i + 1 };
    }
  }
  return undefined;
}

function isJson(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function num(schema: Json, key: string): number | undefined {
  const v = schema[key];
  return typeof v === 'number' ? v : undefined;
}

function str(schema: Json, key: string): string | undefined {
  const v = schema[key];
  return typeof v === 'string' ? v : undefined;
}

function strings(x: unknown): string[] | undefined {
  return Array.isArray(x) && x.every((v) => typeof v === 'string') ? x : undefined;
}

/** `/body/inputs/0/name` → ['body', 'inputs', '0', 'name'] (JSON pointer escapes undone). */
function segments(path: string): string[] {
  const normalized = path.startsWith('/') ? path : `/${path.replace(/^request\//, '').replace(/\./g, '/')}`;
  return normalized
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parametersIn(operation: Json | undefined, where: string): Json[] {
  const list = operation?.parameters;
  return Array.isArray(list) ? list.filter((p): p is Json => isJson(p) && p.in === where) : [];
}

/** The schema of a request part: the JSON body, or one parameter (`params` are `in: path`). */
function rootSchema(operation: Json | undefined, part: string, name: string | undefined): { schema: Json | undefined; rest: number } {
  if (part === 'body') {
    const content = isJson(operation?.requestBody) ? operation.requestBody.content : undefined;
    const json = isJson(content) ? content['application/json'] : undefined;
    return { schema: isJson(json) && isJson(json.schema) ? json.schema : undefined, rest: 1 };
  }
  const where = part === 'params' ? 'path' : part;
  const parameter = parametersIn(operation, where).find((p) => p.name === name);
  return { schema: parameter && isJson(parameter.schema) ? parameter.schema : undefined, rest: 2 };
}

function child(schema: Json | undefined, segment: string): Json | undefined {
  if (!schema) return undefined;
  const properties = schema.properties;
  if (isJson(properties) && Object.hasOwn(properties, segment) && isJson(properties[segment])) return properties[segment];
  if (isJson(schema.items) && /^\d+$/.test(segment)) return schema.items;
  return undefined;
}

/** The schema of the field at `path` and of the object holding it. */
function schemasAt(operation: Json | undefined, path: string[]): { field: Json | undefined; parent: Json | undefined } {
  const [part = '', name] = path;
  const { schema, rest } = rootSchema(operation, part, name);
  // A parameter has no parent object in the document: its "object" is the query.
  if (path.length <= rest) return { field: schema, parent: part === 'body' || part === '' ? undefined : querySchema(operation, part) };
  let parent = schema;
  for (const segment of path.slice(rest, -1)) parent = child(parent, segment);
  return { field: child(parent, path[path.length - 1]!), parent };
}

/** The parameters of one kind as if they were an object's properties (unknown/missing ones). */
function querySchema(operation: Json | undefined, part: string): Json {
  const where = part === 'params' ? 'path' : part;
  const list = parametersIn(operation, where);
  return {
    type: 'object',
    properties: Object.fromEntries(list.map((p) => [String(p.name), isJson(p.schema) ? p.schema : {}])),
    required: list.filter((p) => p.required === true).map((p) => String(p.name)),
  };
}

/** The value at `path` in the request, if there is one (own properties only). */
function valueAt(input: RequestInput, path: string[]): { present: boolean; value?: unknown } {
  const [part, ...rest] = path;
  let value: unknown = part === 'body' ? input.body : part === 'query' ? input.query : part === 'params' ? input.params : undefined;
  if (part !== 'body' && part !== 'query' && part !== 'params') return { present: false };
  for (const segment of rest) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, segment)) return { present: false };
    value = (value as Record<string, unknown>)[segment];
  }
  return value === undefined ? { present: false } : { present: true, value };
}

const CONSTRAINTS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems'] as const;

/** What a schema allows, in JSON Schema's words. */
export function allowedBy(schema: Json): Allowed {
  const out: Allowed = {};
  const type = str(schema, 'type');
  if (type) out.type = type;
  const values = Array.isArray(schema.enum) ? schema.enum : 'const' in schema ? [schema.const] : undefined;
  if (values) out.enum = values.filter((v): v is string | number | boolean | null => v === null || ['string', 'number', 'boolean'].includes(typeof v));
  for (const key of CONSTRAINTS) {
    const v = num(schema, key);
    if (v !== undefined) out[key] = v;
  }
  const pattern = str(schema, 'pattern');
  if (pattern !== undefined) out.pattern = pattern;
  const format = str(schema, 'format');
  if (format !== undefined) out.format = format;
  if (isJson(schema.properties)) out.fields = Object.keys(schema.properties);
  const required = strings(schema.required);
  if (required && required.length > 0) out.required = required;
  return out;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  array: 'an array',
  object: 'an object',
  null: 'null',
};

const FORMAT_WORDS: Record<string, string> = {
  uuid: 'a UUID (like 00000000-0000-4000-8000-000000000000)',
  'date-time': 'an ISO-8601 date-time (like 2025-01-31T12:00:00Z)',
};

function quoted(values: readonly unknown[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

function range(low: number | undefined, high: number | undefined, unit: string): string | undefined {
  if (low !== undefined && high !== undefined) return low === high ? `of exactly ${low} ${unit}` : `of ${low} to ${high} ${unit}`;
  if (low !== undefined) return `of at least ${low} ${unit}`;
  if (high !== undefined) return `of at most ${high} ${unit}`;
  return undefined;
}

/** A schema in words: "one of "idx", "csv"", "an integer from 0 to 1000", "a UUID". */
export function describeSchema(schema: Json): string {
  const values = Array.isArray(schema.enum) ? schema.enum : 'const' in schema ? [schema.const] : undefined;
  if (values) return values.length === 1 ? quoted(values) : `one of ${quoted(values)}`;
  const alternatives = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : undefined;
  if (alternatives) return alternatives.filter(isJson).map(describeSchema).join(' or ');
  const format = str(schema, 'format');
  const type = str(schema, 'type');
  const parts: string[] = [format && FORMAT_WORDS[format] ? FORMAT_WORDS[format] : format ? `a ${format} string` : type ? (TYPE_WORDS[type] ?? type) : 'a value'];
  const min = num(schema, 'minimum');
  const max = num(schema, 'maximum');
  if (min !== undefined && max !== undefined) parts.push(`from ${min} to ${max}`);
  else if (min !== undefined) parts.push(`of at least ${min}`);
  else if (max !== undefined) parts.push(`of at most ${max}`);
  const xmin = num(schema, 'exclusiveMinimum');
  const xmax = num(schema, 'exclusiveMaximum');
  if (xmin !== undefined) parts.push(`greater than ${xmin}`);
  if (xmax !== undefined) parts.push(`less than ${xmax}`);
  const length = range(num(schema, 'minLength'), num(schema, 'maxLength'), 'characters');
  if (length && !(format && FORMAT_WORDS[format])) parts.push(length);
  const items = range(num(schema, 'minItems'), num(schema, 'maxItems'), 'items');
  if (items) parts.push(items);
  if (isJson(schema.items) && type === 'array') parts.push(`each ${describeSchema(schema.items)}`);
  const pattern = str(schema, 'pattern');
  if (pattern !== undefined) parts.push(`matching the pattern ${pattern}`);
  const description = str(schema, 'description');
  // Patterns are hard to read: the schema's own words say what it means.
  if (pattern !== undefined && description) parts.push(`(${description.replace(/\.$/, '')})`);
  return parts.join(' ');
}

const LENGTH_KEYWORDS = new Set(['minLength', 'maxLength', 'minItems', 'maxItems']);

/** The length of what was found, when it matters (a length limit) or the echo was cut. */
function lengthOf(value: unknown, keyword: string | undefined): string {
  const cut = foundText(value).endsWith('…');
  if (!cut && !LENGTH_KEYWORDS.has(keyword ?? '')) return '';
  if (typeof value === 'string') return `, ${value.length} characters`;
  if (Array.isArray(value)) return `, ${value.length} items`;
  return '';
}

/** The human part of the message for one failure. */
function sentence(keyword: string | undefined, field: string, fieldSchema: Json | undefined, parent: Json | undefined, raw: RawFailure, found: { present: boolean; value?: unknown }): string {
  const had = found.present ? ` (found ${foundText(found.value)}${lengthOf(found.value, keyword)})` : '';
  switch (keyword) {
    case 'required': {
      const required = strings(parent?.required);
      const what = fieldSchema ? `: ${describeSchema(fieldSchema)}` : '';
      return `${field} is required${what}${required && required.length > 1 ? ` (required: ${required.join(', ')})` : ''}`;
    }
    case 'additionalProperties':
    case 'unknownQuery': {
      const known = parent && isJson(parent.properties) ? Object.keys(parent.properties) : [];
      const container = field.slice(0, field.lastIndexOf('/')) || '/';
      const name = field.slice(field.lastIndexOf('/') + 1);
      const takes = known.length > 0 ? `; it takes ${known.join(', ')}` : '; it takes none';
      return container === '/query' ? `unknown query parameter "${name}"${had}${takes}` : `unknown field "${name}" in ${container}${had}${takes}`;
    }
    case 'empty':
      return `${field} is empty${fieldSchema ? `; it must be ${describeSchema(fieldSchema)}` : ''}`;
    case 'pattern': {
      // Names refuse control and bidi characters: say which one and where, not only the pattern.
      const bad = found.present && typeof found.value === 'string' ? forbiddenNameCharacter(found.value) : undefined;
      if (bad) {
        return `${field} contains the character ${bad.code} at position ${bad.position}: names may not contain control characters (C0, DEL, C1), line or paragraph separators, or bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069)${had}`;
      }
      return fieldSchema ? `${field} must be ${describeSchema(fieldSchema)}${had}` : `${field} ${raw.message}${had}`;
    }
    default:
      if (fieldSchema) return `${field} must be ${describeSchema(fieldSchema)}${had}`;
      return `${field} ${raw.message}${had}`;
  }
}

/** AJV reports a failed `anyOf` besides the failures of its branches: noise when those are there. */
const SUMMARY_KEYWORDS = new Set(['anyOf', 'oneOf', 'if']);

/** Validation failures → one precise item per field: path, message, found, allowed. */
export function explainFailures(failures: readonly RawFailure[], input: RequestInput): ProblemDetail[] {
  const specific = failures.filter((f) => !SUMMARY_KEYWORDS.has(f.keyword ?? '') || !failures.some((o) => o !== f && !SUMMARY_KEYWORDS.has(o.keyword ?? '') && o.path.startsWith(f.path)));
  const out: ProblemDetail[] = [];
  const seen = new Set<string>();
  for (const failure of specific) {
    const path = segments(failure.path);
    // An unknown field's name is the client's text too: a 15 KB key is not echoed whole either.
    const field = `/${path.map((segment) => (segment.length > FOUND_MAX_CHARS ? `${segment.slice(0, FOUND_MAX_CHARS)}…` : segment)).join('/')}`;
    const keyword = failure.keyword;
    const { field: fieldSchema, parent } = schemasAt(input.operation, path);
    const found = valueAt(input, path);
    const message = sentence(keyword, field, fieldSchema, parent, failure, found);
    if (seen.has(message)) continue;
    seen.add(message);
    const item: ProblemDetail = { path: field, message };
    if (found.present) item.found = foundText(found.value);
    let allowed: Allowed | undefined;
    if (keyword === 'additionalProperties' || keyword === 'unknownQuery') allowed = { fields: parent && isJson(parent.properties) ? Object.keys(parent.properties) : [] };
    else if (fieldSchema) allowed = allowedBy(fieldSchema);
    if (keyword === 'required') {
      const required = strings(parent?.required);
      if (required) allowed = { ...allowed, required };
    }
    if (allowed && Object.keys(allowed).length > 0) item.allowed = allowed;
    out.push(item);
  }
  return out;
}

/** The validator's failures (`errors[]` with `errorCode: "<keyword>.openapi.validation"`, or its own messages). */
export function rawFailures(errors: readonly unknown[]): RawFailure[] {
  return errors.flatMap((item: unknown): RawFailure[] => {
    if (!isJson(item)) return [];
    const path = typeof item.path === 'string' ? item.path : '';
    const message = typeof item.message === 'string' ? item.message : 'is invalid';
    const code = typeof item.errorCode === 'string' ? item.errorCode : undefined;
    let keyword = code?.split('.')[0];
    // The validator's own checks of the query carry no errorCode.
    if (!keyword && message.startsWith('Unknown query parameter')) keyword = 'unknownQuery';
    if (!keyword && message.startsWith('Empty value found for query parameter')) keyword = 'empty';
    return [keyword ? { path, message, keyword } : { path, message }];
  });
}

/** A validation failure the app finds itself (after the validator), reported the same way. */
export class RequestValidationError extends Error {
  readonly status = 400;
  constructor(readonly failures: RawFailure[]) {
    super(failures.map((f) => `${f.path} ${f.message}`).join('; '));
    this.name = 'RequestValidationError';
  }
}
