/**
 * The service's error vocabulary, defined once: every condition a client can be told about
 * has a stable code and an HTTP status here. The layers below raise a `DomainError` (or a
 * subclass) with its code; the two edges translate it generically:
 *
 * - HTTP (server/api/errors.ts): an RFC 9457 problem with `code`, `type:
 *   urn:hanami:problem:<code>`, the status below and the error's `details` (field, line, ...);
 * - Socket.IO (server/io/): an acknowledgement `{ ok: false, error: { code, message } }` whose
 *   code is the same code spelled with hyphens (`cluster_hosted_elsewhere` →
 *   `cluster-hosted-elsewhere`), as Socket.IO codes always were.
 *
 * docs/api.md ("Errors") and docs/socket-io.md ("Error codes") list them.
 */

/** Every code, with its HTTP status. */
export const ERROR_STATUS = {
  // 400: the request itself is malformed
  validation: 400,
  malformed_json: 400,
  unparsable_request: 400,
  template_choice: 400,
  restore_target: 400,
  bad_part: 400,
  csv_option: 400,
  label_or_targets: 400,
  epochs_for_request: 400,
  bad_payload: 400,
  unknown_event: 400,
  wrong_namespace: 400,
  unsupported_encoding: 400,
  unsupported_charset: 400,
  request_aborted: 400,
  bad_content_length: 400,
  bad_request: 400,
  // 401, 403, 404: who may see or do what
  unauthorized: 401,
  bad_credentials: 401,
  forbidden: 403,
  not_found: 404,
  no_route: 404,
  method_not_allowed: 405,
  // 409: the resource is in use or not in a state for this
  duplicate: 409,
  cluster_busy: 409,
  cluster_direct: 409,
  cluster_hosted_elsewhere: 409,
  not_direct_mode: 409,
  not_attached: 409,
  already_attached: 409,
  not_trained: 409,
  dataset_in_use: 409,
  dataset_not_ready: 409,
  upload_in_progress: 409,
  task_active: 409,
  task_ended: 409,
  no_results: 409,
  part_exists: 409,
  last_admin: 409,
  delete_self: 409,
  project_not_empty: 409,
  backend_unavailable: 409,
  // 413, 415: sizes and media types
  body_too_large: 413,
  upload_too_large: 413,
  payload_too_large: 413,
  /** A dataset part larger than a limit once decompressed or parsed (bytes, rows, columns). */
  dataset_too_large: 413,
  /** A stored-bytes quota of the project or user would be exceeded. */
  storage_quota_exceeded: 413,
  unsupported_media_type: 415,
  // 422: the content cannot work
  bad_template: 422,
  /** The template would take more work to parse and build than the limits allow. */
  template_too_large: 422,
  bad_dataset: 422,
  bad_checkpoint: 422,
  bad_mapping: 422,
  no_targets: 422,
  row_mismatch: 422,
  width_mismatch: 422,
  no_matching_output: 422,
  /** A dataset binding that names columns the data does not have. */
  bad_columns: 422,
  /** Growing an interface would move another one whose neurons have learned. */
  cannot_resize: 422,
  wrong_length: 422,
  not_finite: 422,
  negative: 422,
  unknown_input: 422,
  missing_input: 422,
  named_inputs_required: 422,
  unknown_output: 422,
  named_targets_required: 422,
  classes_required: 422,
  bad_label: 422,
  wrong_target: 422,
  // 429, 431: limits
  too_many_logins: 429,
  rate_limited: 429,
  /** A count quota (datasets, templates, clusters) of the project or user is used up. */
  quota_exceeded: 429,
  headers_too_large: 431,
  // 5xx
  internal: 500,
  not_ready: 503,
  shutting_down: 503,
  /** The store's disk is full (ENOSPC, EDQUOT, SQLITE_FULL, MongoDB's OutOfDiskSpace). */
  insufficient_storage: 507,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Where in the input a problem is, and what else a client may need to act on it. */
export interface ErrorDetails {
  /** A JSON pointer into the request: `/body/name`, `/query/limit`, `/body/inputs/3`. */
  field?: string;
  line?: number;
  column?: number;
  byteOffset?: number;
  row?: number;
  /** `cluster_hosted_elsewhere`: the instance holding the cluster, and until when. */
  owner?: string;
  leaseUntil?: string;
  /** 429: when to try again. */
  retryAfterSeconds?: number;
  /** The limit or quota that was hit: its setting and its value. */
  limit?: LimitDetail;
  /** `template_too_large`: what the template would have cost, in the limit's unit. */
  estimate?: number;
  /** Quotas: what is in use now, in the quota's unit. */
  usage?: number;
}

/** A limit named in a problem: the setting that sets it (`HANAMI_TEMPLATE_MAX_WORK`) and its value. */
export interface LimitDetail {
  name: string;
  value: number;
}

/** A condition the client is told about: a stable code (ERROR_STATUS) and a message for people. */
export class DomainError extends Error {
  /** The HTTP status: the code's, except `bad_credentials` of a logged-in caller (403). */
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
    status?: 403,
  ) {
    super(message);
    this.name = 'DomainError';
    this.status = status ?? ERROR_STATUS[code];
  }
}

/** A code as Socket.IO acknowledgements spell it. */
type Hyphenated<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}-${Hyphenated<Tail>}` : S;
export type SocketErrorCode = Hyphenated<ErrorCode>;

/** The code as Socket.IO acknowledgements spell it: `wrong_length` → `wrong-length`. */
export function socketCode(code: ErrorCode): SocketErrorCode {
  return code.replaceAll('_', '-') as SocketErrorCode;
}

/** The code a Socket.IO spelling stands for (undefined for none of ours). */
export function codeOfSocketCode(code: string): ErrorCode | undefined {
  const snake = code.replaceAll('-', '_');
  return Object.hasOwn(ERROR_STATUS, snake) ? (snake as ErrorCode) : undefined;
}
