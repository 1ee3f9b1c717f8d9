/** Tokens for the renewal tests, signed with the running service's own key (as it would). */
import jwt from 'jsonwebtoken';
import type { RunningService } from '../../server/service.js';
import { TOKEN_ISSUER } from '../../server/auth/tokens.js';

/** A token of `name` issued `ageSeconds` ago that expires in `leftSeconds` (negative: expired). */
export async function tokenFor(service: RunningService, name: string, ageSeconds: number, leftSeconds: number): Promise<string> {
  const user = await service.services.store.users.findByName(name);
  if (!user) throw new Error(`no user ${name}`);
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ sub: user.id, name: user.name, admin: user.isAdmin, tv: user.tokenVersion, iat: now - ageSeconds, exp: now + leftSeconds }, service.services.tokens.key, {
    algorithm: 'HS256',
    issuer: TOKEN_ISSUER,
  });
}

export function expOf(token: string): number {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number }).exp;
}
