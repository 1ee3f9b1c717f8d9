/**
 * First-start chores: the JWT key (from the config, else generated once and kept in the
 * store so every replica and every restart agrees on it) and the initial admin.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { HanamiConfig } from '../config.js';
import type { Store } from '../store/types.js';
import { generatePassphrase, hashPassphrase } from './passphrase.js';

export async function ensureJwtKey(store: Store, config: HanamiConfig): Promise<string> {
  if (config.jwtKey !== undefined) return config.jwtKey;
  return store.settings.setIfAbsent('jwtKey', randomBytes(32).toString('base64url'));
}

export interface AdminBootstrap {
  /** Set when an admin was created now. */
  created?: { name: string };
  /** Set only when the passphrase was generated (it is shown once and never stored in clear). */
  generatedPassphrase?: string;
}

/**
 * Creates the initial admin when the store has no admin at all: named HANAMI_ADMIN_USER,
 * with HANAMI_ADMIN_PASSPHRASE or a generated passphrase. An existing user of that name is
 * promoted (and given the configured passphrase, when one is configured). With an admin
 * present nothing changes, so a configured passphrase never overrides a changed one.
 */
export async function ensureInitialAdmin(store: Store, config: HanamiConfig): Promise<AdminBootstrap> {
  if ((await store.users.countAdmins()) > 0) return {};
  const passphrase = config.adminPassphrase ?? generatePassphrase();
  const passphraseHash = await hashPassphrase(passphrase);
  const existing = await store.users.findByName(config.adminUser);
  if (existing) {
    await store.users.update(existing.id, { isAdmin: true, passphraseHash, tokenVersion: existing.tokenVersion + 1 });
  } else {
    await store.users.create({
      id: randomUUID(),
      name: config.adminUser,
      isAdmin: true,
      passphraseHash,
      tokenVersion: 1,
      createdAt: new Date().toISOString(),
      createdBy: 'bootstrap',
    });
  }
  return config.adminPassphrase === undefined ? { created: { name: config.adminUser }, generatedPassphrase: passphrase } : { created: { name: config.adminUser } };
}
