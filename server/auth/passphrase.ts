/**
 * Passphrases are stored as scrypt hashes with a per-user random salt, in the form
 * `scrypt$N$r$p$salt(base64)$hash(base64)` (so the cost can be raised later without
 * invalidating stored hashes). Comparison is constant-time.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** N = 2^14, r = 8: 16 MiB and tens of milliseconds per hash, the common interactive setting. */
const COST = { N: 16384, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

function derive(passphrase: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, KEY_BYTES, { ...options, maxmem: 64 * 1024 * 1024 }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashPassphrase(passphrase: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(passphrase, salt, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), key.toString('base64')].join('$');
}

interface ParsedHash {
  options: ScryptOptions;
  salt: Buffer;
  key: Buffer;
}

function parseHash(stored: string): ParsedHash | undefined {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || salt === undefined || key === undefined) return undefined;
  const options = { N: Number(n), r: Number(r), p: Number(p) };
  if (![options.N, options.r, options.p].every((v) => Number.isInteger(v) && v > 0)) return undefined;
  return { options, salt: Buffer.from(salt, 'base64'), key: Buffer.from(key, 'base64') };
}

/** True when `passphrase` matches `stored`; false for a wrong passphrase or a malformed hash. */
export async function verifyPassphrase(passphrase: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const key = await derive(passphrase, parsed.salt, parsed.options);
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the same time as a real check, for logins with an unknown user name: otherwise the
 * response time would tell which names exist.
 */
export async function verifyAgainstDummy(passphrase: string): Promise<false> {
  dummyHash ??= hashPassphrase(randomBytes(16).toString('hex'));
  await verifyPassphrase(passphrase, await dummyHash);
  return false;
}

/** A random passphrase for the initial admin: 24 URL-safe characters (144 bits). */
export function generatePassphrase(): string {
  return randomBytes(18).toString('base64url');
}
