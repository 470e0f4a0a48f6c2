// Setting types for the secret key (GATEHOUSE_SECRET_KEY, GATEHOUSE_SECRET_KEY_PREVIOUS): checked
// at boot like every setting, and never echoed, not even in the error that refuses them.
import { decodeSecretKey, SECRET_KEY_BYTES } from '../keyring.ts';
import type { SettingType } from './types.ts';

const ACCEPTS = `${SECRET_KEY_BYTES} random bytes in base64 or base64url (\`openssl rand -base64 ${SECRET_KEY_BYTES}\`)`;

function keyText(raw: unknown): string {
  if (typeof raw !== 'string') throw new Error(`got ${typeof raw}`);
  const text = raw.trim();
  decodeSecretKey(text);
  return text;
}

export function secretKey(): SettingType<string> {
  return { accepts: ACCEPTS, parse: keyText, show: () => '(hidden)' };
}

/** Several keys separated by commas or spaces; an array of strings in the config file. */
export function secretKeyList(): SettingType<readonly string[]> {
  return {
    accepts: `a comma-separated list of keys, each ${ACCEPTS}`,
    parse(raw) {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(/[\s,]+/) : [raw];
      return items.filter((item) => item !== '').map(keyText);
    },
    show: (value) => (value.length === 0 ? 'none' : '(hidden)'),
  };
}
