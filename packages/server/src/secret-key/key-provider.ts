// Where the secret key comes from. A KeyProvider is loaded once when a server (or a CLI command)
// starts and hands over the raw keys; encryption then runs in process (keyring.ts), with no call
// out per request.
//
// Built in: the GATEHOUSE_SECRET_KEY setting, or a file (GATEHOUSE_SECRET_KEY_FILE: a mounted
// Kubernetes/Docker secret), plus GATEHOUSE_SECRET_KEY_PREVIOUS during a rotation. A KMS plugs in
// the same way: a provider whose `load()` asks the KMS to decrypt a data key kept wrapped
// (AWS KMS Decrypt, GCP KMS, Vault transit…) and returns it; pass it to `buildServer({ keys })`.
// Without any key, outside production only, `gatehouse serve` and `npm start` keep a development
// key in ./data/secret.key and say so at every start.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../config/load.ts';
import { isProduction } from '../config/production.ts';
import type { Config } from '../config/schema.ts';
import { decodeSecretKey, generateSecretKey, Keyring } from '../keyring.ts';

export interface SecretKeyMaterial {
  /** Encrypts everything new. */
  readonly current: Uint8Array;
  /** Still decrypt what was encrypted under them (a rotation in progress). */
  readonly previous: readonly Uint8Array[];
}

export interface KeyProvider {
  /** Where the keys come from, for messages (`GATEHOUSE_SECRET_KEY`, a file path…); never a key. */
  readonly source: string;
  /** The keys. Throw a ConfigError naming the setting when they cannot be had. */
  load(): Promise<SecretKeyMaterial>;
}

/** Where `gatehouse serve` and `npm start` keep a development key when none is configured. */
export const DEVELOPMENT_KEY_FILE = 'data/secret.key';

const SETTINGS = 'GATEHOUSE_SECRET_KEY or GATEHOUSE_SECRET_KEY_FILE';
const HOW = 'set GATEHOUSE_SECRET_KEY to 32 random bytes in base64 (`openssl rand -base64 32`), or GATEHOUSE_SECRET_KEY_FILE to a file holding one';

export interface ResolvedKeyProvider {
  readonly provider: KeyProvider;
  /** Said at start: a development key is in use. */
  readonly warnings: readonly string[];
}

/**
 * The key provider the settings describe. In production, no key is a ConfigError naming the
 * setting; outside production, a development key file is used when the caller allows one.
 */
export function keyProviderFromConfig(config: Config, options: { developmentKeyFile?: string } = {}): ResolvedKeyProvider {
  const previous = config.secretKeyPrevious.map((text) => decodeSecretKey(text));
  if (config.secretKey !== undefined && config.secretKeyFile !== undefined) {
    throw new ConfigError([`GATEHOUSE_SECRET_KEY and GATEHOUSE_SECRET_KEY_FILE are both set: set one of them`]);
  }
  if (config.secretKey !== undefined) {
    const current = decodeSecretKey(config.secretKey);
    return { provider: { source: 'GATEHOUSE_SECRET_KEY', load: async () => ({ current, previous }) }, warnings: [] };
  }
  if (config.secretKeyFile !== undefined) {
    return { provider: keyFileProvider(resolve(config.secretKeyFile), previous), warnings: [] };
  }
  if (isProduction(config)) {
    throw new ConfigError([
      `GATEHOUSE_SECRET_KEY: required in production (GATEHOUSE_PUBLIC_URL is ${config.publicUrl}, not an http URL on a loopback host). ` +
        `It encrypts the signing keys and server secrets kept in the database; ${HOW}, and keep it out of the database and its backups`,
    ]);
  }
  if (options.developmentKeyFile === undefined) {
    throw new ConfigError([`GATEHOUSE_SECRET_KEY: not set; ${HOW} (\`gatehouse serve\` and \`npm start\` keep a development key in ./${DEVELOPMENT_KEY_FILE})`]);
  }
  const path = resolve(options.developmentKeyFile);
  return {
    provider: developmentKeyProvider(path, previous),
    warnings: [
      `${SETTINGS} is not set: the secrets in the database are encrypted with a development key kept in ${path}. ` +
        `For development only: with a public URL other than http on a loopback host, the server refuses to start without ${SETTINGS}`,
    ],
  };
}

/** A key file: the current key on the first line, previous keys on the next; `#` comments. */
export function keyFileProvider(path: string, extraPrevious: readonly Uint8Array[] = []): KeyProvider {
  return {
    source: `GATEHOUSE_SECRET_KEY_FILE (${path})`,
    async load() {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (error) {
        throw new ConfigError([`GATEHOUSE_SECRET_KEY_FILE: cannot read "${path}" (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
      }
      const keys = text
        .split(/\r?\n/)
        .map((line, index) => ({ line: line.trim(), number: index + 1 }))
        .filter(({ line }) => line !== '' && !line.startsWith('#'))
        .map(({ line, number }) => {
          try {
            return decodeSecretKey(line);
          } catch (error) {
            // The message says what is wrong with the line, never what it holds.
            throw new ConfigError([`GATEHOUSE_SECRET_KEY_FILE: line ${number} of "${path}" is not a key: ${(error as Error).message}; ${HOW}`]);
          }
        });
      if (keys.length === 0) throw new ConfigError([`GATEHOUSE_SECRET_KEY_FILE: "${path}" holds no key; ${HOW}`]);
      const [current, ...previous] = keys as [Buffer, ...Buffer[]];
      return { current, previous: [...previous, ...extraPrevious] };
    },
  };
}

/** A development key: read from `path`, created there (mode 0600) when missing. */
export function developmentKeyProvider(path: string, previous: readonly Uint8Array[] = []): KeyProvider {
  const file = keyFileProvider(path, previous);
  return {
    source: `the development key in ${path}`,
    async load() {
      mkdirSync(dirname(path), { recursive: true });
      try {
        // `wx`: two processes starting at once never overwrite each other's key.
        writeFileSync(path, `${generateSecretKey()}\n`, { mode: 0o600, flag: 'wx' });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      return file.load();
    },
  };
}

/** A provider for keys already in hand (tests, embedding). */
export function staticKeyProvider(current: Uint8Array, previous: readonly Uint8Array[] = [], source = 'keys given in code'): KeyProvider {
  return { source, load: async () => ({ current, previous }) };
}

export async function loadKeyring(provider: KeyProvider): Promise<Keyring> {
  const { current, previous } = await provider.load();
  return new Keyring(current, previous);
}
