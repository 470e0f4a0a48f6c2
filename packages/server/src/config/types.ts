// The value types a setting can have. Each knows how to parse an environment string
// (or a JSON value from the config file) and how to describe what it accepts, so that
// errors and the generated docs say the same thing.

export interface SettingType<T> {
  /** What the setting accepts, for error messages and docs ("an integer from 1 to 65535"). */
  readonly accepts: string;
  /** Parses a raw value; throws a plain Error whose message says what is wrong. */
  parse(raw: unknown): T;
  /** How a value is shown in the docs. */
  show(value: T): string;
}

function asString(raw: unknown): string {
  if (typeof raw === 'string') return raw.trim();
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  throw new Error(`got ${typeof raw}`);
}

export function integer(min: number, max: number): SettingType<number> {
  return {
    accepts: `an integer from ${min} to ${max}`,
    parse(raw) {
      const text = asString(raw);
      if (!/^-?\d+$/.test(text)) throw new Error(`got "${text}"`);
      const value = Number(text);
      if (value < min || value > max) throw new Error(`got ${value}`);
      return value;
    },
    show: String,
  };
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A duration in whole seconds: `90`, `90s`, `15m`, `12h`, `14d`. */
export function duration(min: number, max: number): SettingType<number> {
  return {
    accepts: `a duration (seconds, or a number with s, m, h or d) from ${showDuration(min)} to ${showDuration(max)}`,
    parse(raw) {
      const text = asString(raw);
      const match = /^(\d+)\s*([smhd]?)$/.exec(text);
      if (!match) throw new Error(`got "${text}"`);
      const value = Number(match[1]) * UNITS[match[2] || 's']!;
      if (value < min || value > max) throw new Error(`got ${showDuration(value)}`);
      return value;
    },
    show: showDuration,
  };
}

export function showDuration(seconds: number): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

export function boolean(): SettingType<boolean> {
  return {
    accepts: 'true or false',
    parse(raw) {
      const text = asString(raw).toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(text)) return true;
      if (['false', '0', 'no', 'off'].includes(text)) return false;
      throw new Error(`got "${text}"`);
    },
    show: String,
  };
}

export function oneOf<const T extends string>(values: readonly T[]): SettingType<T> {
  return {
    accepts: `one of ${values.join(', ')}`,
    parse(raw) {
      const text = asString(raw);
      if (!(values as readonly string[]).includes(text)) throw new Error(`got "${text}"`);
      return text as T;
    },
    show: String,
  };
}

export function text(pattern?: { test: RegExp; accepts: string }): SettingType<string> {
  return {
    accepts: pattern?.accepts ?? 'text',
    parse(raw) {
      const value = asString(raw);
      if (value === '' || (pattern && !pattern.test.test(value))) throw new Error(`got "${value}"`);
      return value;
    },
    show: String,
  };
}

/** A comma-separated list of names (`user, reader`); empty for none. */
export function nameList(): SettingType<readonly string[]> {
  return {
    accepts: 'a comma-separated list of names (letters, digits, spaces and . _ : -)',
    parse(raw) {
      const names = asString(raw).split(',').map((name) => name.trim()).filter(Boolean);
      const bad = names.find((name) => !/^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,99}$/.test(name));
      if (bad !== undefined) throw new Error(`got "${bad}"`);
      return [...new Set(names)];
    },
    show: (names) => (names.length ? names.join(', ') : '(none)'),
  };
}

/** An http(s) origin-style URL used as an issuer: no path (other than `/`), query or fragment. */
export function publicUrl(): SettingType<string> {
  return {
    accepts: 'an http:// or https:// URL with no path, query or fragment (e.g. https://auth.example.com)',
    parse(raw) {
      const value = asString(raw);
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new Error(`got "${value}"`);
      }
      if (!['http:', 'https:'].includes(url.protocol) || url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
        throw new Error(`got "${value}"`);
      }
      return url.origin;
    },
    show: String,
  };
}

/** Any absolute URL (an API identifier, for instance). */
export function absoluteUrl(): SettingType<string> {
  return {
    accepts: 'an absolute URL',
    parse(raw) {
      const value = asString(raw);
      if (!URL.canParse(value)) throw new Error(`got "${value}"`);
      return value;
    },
    show: String,
  };
}

export function optional<T>(type: SettingType<T>): SettingType<T | undefined> {
  return {
    accepts: `${type.accepts}; unset by default`,
    parse: (raw) => (raw === undefined || raw === '' ? undefined : type.parse(raw)),
    show: (value) => (value === undefined ? '(unset)' : type.show(value)),
  };
}
