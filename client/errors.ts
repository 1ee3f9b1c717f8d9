/**
 * The one error the SDK throws for a failed request: the service's RFC 9457 problem
 * (application/problem+json) as fields, so a caller can branch on `code` and show `detail`
 * and `field` without parsing text.
 */

/** The problem document the service answers errors with (docs/api.md, "Errors"). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  field?: string;
  requestId?: string;
  [key: string]: unknown;
}

export class HanamiError extends Error {
  /** `urn:hanami:problem:<code>` (or `about:blank` when the answer was not a problem). */
  readonly type: string;
  readonly title: string;
  /** The HTTP status; 0 when no answer came (connection refused, aborted). */
  readonly status: number;
  /** Stable machine-readable code (`not_found`, `bad_credentials`, …; `network` when no answer came). */
  readonly code: string;
  readonly detail: string;
  /** The offending field (`/body/name`, `/path/projectId`), when the problem has one. */
  readonly field: string | undefined;
  /** The whole problem document as the service sent it. */
  readonly problem: Problem;

  constructor(problem: Problem, options?: { cause?: unknown }) {
    super(HanamiError.describe(problem), options);
    this.name = 'HanamiError';
    this.problem = problem;
    this.type = problem.type;
    this.title = problem.title;
    this.status = problem.status;
    this.code = problem.code;
    this.detail = problem.detail;
    this.field = typeof problem.field === 'string' ? problem.field : undefined;
  }

  /** One line: title, detail and field ("Not Found: project x not found"). */
  static describe(p: Pick<Problem, 'title' | 'detail' | 'field'>): string {
    return `${p.title}: ${p.detail}${typeof p.field === 'string' ? ` (field ${p.field})` : ''}`;
  }

  /** From an answer's status and parsed body (a problem, or anything else a proxy may send). */
  static fromResponse(status: number, body: unknown, statusText = ''): HanamiError {
    const b = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const code = typeof b.code === 'string' ? b.code : `http_${status}`;
    const detail = typeof b.detail === 'string' ? b.detail : typeof body === 'string' && body.length > 0 ? body.slice(0, 500) : statusText || `HTTP ${status}`;
    return new HanamiError({
      ...b,
      type: typeof b.type === 'string' ? b.type : 'about:blank',
      title: typeof b.title === 'string' ? b.title : statusText || `HTTP ${status}`,
      status,
      detail,
      code,
    });
  }

  /** No answer at all: the service is not reachable, or the request was aborted. */
  static network(error: unknown, url: string): HanamiError {
    const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
    const aborted = error instanceof Error && error.name === 'AbortError';
    return new HanamiError(
      { type: 'about:blank', title: aborted ? 'Aborted' : 'No answer', status: 0, code: aborted ? 'aborted' : 'network', detail: aborted ? `the request to ${url} was aborted` : `${url}: ${cause}` },
      { cause: error },
    );
  }
}
