/**
 * The token a client holds, kept fresh: renewed (POST /v1/auth/renew) in the last quarter of
 * its life before a request, and, when an answer is 401 (the token expired or was revoked),
 * replaced once by a fresh login when the client knows the credentials, then the request is
 * sent again. Renewals are single-flight: concurrent requests wait for the same one.
 */
import { HanamiError } from './errors.js';
import { dueForRenewal, isExpired, tokenTimes } from './token.js';

export interface Credentials {
  user: string;
  passphrase: string;
}

export interface LoginAnswer {
  token: string;
  expiresAt: string;
  user: { id: string; name: string; isAdmin: boolean };
}

export class Session {
  private renewing: Promise<void> | undefined;

  constructor(
    readonly baseUrl: string,
    private current: string | undefined,
    private readonly credentials: Credentials | undefined,
    /** Called with every new token (the CLI writes it to its context). */
    private readonly onToken: ((token: string) => void) | undefined,
    private readonly fetchImpl: typeof fetch = globalThis.fetch,
  ) {}

  get token(): string | undefined {
    return this.current;
  }

  /** Logs in with the credentials and keeps the token. */
  async login(credentials = this.credentials): Promise<LoginAnswer> {
    if (!credentials) throw new HanamiError({ type: 'about:blank', title: 'Not logged in', status: 401, code: 'unauthorized', detail: 'no token and no credentials to log in with' });
    const answer = await this.post<LoginAnswer>('/v1/auth/login', { name: credentials.user, passphrase: credentials.passphrase });
    this.set(answer.token);
    return answer;
  }

  /** A token good for the next request: renewed first when due, or a first login. */
  async fresh(): Promise<string> {
    if (this.current === undefined || dueForRenewal(this.current)) await this.renew();
    if (this.current === undefined) throw new HanamiError({ type: 'about:blank', title: 'Not logged in', status: 401, code: 'unauthorized', detail: 'no token' });
    return this.current;
  }

  /** Renews now (after a 401 too): the token itself while it is valid, else a new login. */
  renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  /** Whether a 401 can be recovered from (there is something to renew with). */
  get canRecover(): boolean {
    return this.credentials !== undefined || (this.current !== undefined && !isExpired(this.current));
  }

  private async renewOnce(): Promise<void> {
    const token = this.current;
    if (token !== undefined && !isExpired(token)) {
      try {
        this.set((await this.post<LoginAnswer>('/v1/auth/renew', undefined, token)).token);
        return;
      } catch (error) {
        // A revoked token (passphrase changed, user deleted) cannot renew itself.
        if (!(error instanceof HanamiError && error.status === 401) || !this.credentials) throw error;
      }
    }
    if (!this.credentials && token !== undefined) {
      const expiredAt = tokenTimes(token).expiresAt;
      throw new HanamiError({
        type: 'urn:hanami:problem:token_expired',
        title: 'Unauthorized',
        status: 401,
        code: 'token_expired',
        detail: `the token expired${expiredAt !== undefined ? ` at ${new Date(expiredAt * 1000).toISOString()}` : ''}; log in again`,
      });
    }
    await this.login();
  }

  private set(token: string): void {
    this.current = token;
    this.onToken?.(token);
  }

  private async post<T>(path: string, body: unknown, token?: string): Promise<T> {
    const url = this.baseUrl + path;
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await this.fetchImpl(url, { method: 'POST', headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (error) {
      throw HanamiError.network(error, url);
    }
    const text = await res.text();
    const parsed = parseBody(text);
    if (!res.ok) throw HanamiError.fromResponse(res.status, parsed, res.statusText);
    return parsed as T;
  }
}

export function parseBody(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
