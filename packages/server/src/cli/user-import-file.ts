// The file `gatehouse users import` reads: its schema, written once here, checks every record
// and prints the format in `--help`. A field Gatehouse does not know is an error, never dropped:
// a dropped `hashed_password` would create a user who can never sign in.
import { GatehouseError } from '../errors.ts';
import { hashKind } from '../passwords/hash.ts';
import type { NewUserWithPassword } from '../passwords/user-passwords.ts';

type Converted = Partial<Pick<NewUserWithPassword, 'username' | 'email' | 'passwordHash' | 'roles' | 'disabled' | 'emailVerified'>>;

interface FieldSpec {
  /** The field's name, then the names other tools use for the same thing (FastAPI's `hashed_password`). */
  readonly names: readonly string[];
  readonly required: boolean;
  readonly help: string;
  /** The value as the user takes it, or the reason it is refused ("must be …"). */
  convert(value: unknown): Converted | string;
}

const text = (value: unknown): value is string => typeof value === 'string';

/** The schema of one record. */
export const IMPORT_FIELDS: readonly FieldSpec[] = [
  {
    names: ['username'],
    required: true,
    help: 'string; letters, digits and . _ @ + -',
    convert: (value) => (text(value) ? { username: value } : 'must be a string'),
  },
  {
    names: ['email'],
    required: false,
    help: 'string or null',
    convert: (value) => (value === null ? {} : text(value) ? { email: value } : 'must be a string or null'),
  },
  {
    names: ['password_hash', 'hashed_password'],
    required: true,
    help: 'an argon2id ($argon2id$…) or bcrypt ($2a$/$2b$/$2y$…) hash; bcrypt is upgraded to argon2id at the next login',
    convert: (value) =>
      text(value) && hashKind(value) ? { passwordHash: value } : 'must be an argon2id ($argon2id$…) or bcrypt ($2a$/$2b$/$2y$…) hash',
  },
  {
    names: ['roles'],
    required: false,
    help: 'array of role names that exist (gatehouse roles list)',
    convert: (value) => (Array.isArray(value) && value.every(text) ? { roles: value } : 'must be an array of role names'),
  },
  {
    names: ['disabled'],
    required: false,
    help: 'true or false (default false)',
    convert: (value) => (typeof value === 'boolean' ? { disabled: value } : 'must be true or false'),
  },
  {
    names: ['email_verified'],
    required: false,
    help: 'true or false (default false)',
    convert: (value) => (typeof value === 'boolean' ? { emailVerified: value } : 'must be true or false'),
  },
];

/** The format, for `gatehouse users import --help` (the README shows the same). */
export function importFormatHelp(): string {
  const width = Math.max(...IMPORT_FIELDS.map((f) => f.names.join(' | ').length)) + 2;
  const rows = IMPORT_FIELDS.map((f) => `  ${f.names.join(' | ').padEnd(width)}${f.required ? 'required' : 'optional'}: ${f.help}`);
  return [
    'The file: a JSON array of user objects, or { "users": [ ... ] }. Each object has only these fields',
    '(names after | mean the same thing; any other field is an error, and nothing is imported):',
    ...rows,
    'Example: [{ "username": "johndoe", "email": "johndoe@example.com", "hashed_password": "$2b$12$…", "disabled": false }]',
  ].join('\n');
}

function refuse(index: number, record: Record<string, unknown>, field: string, message: string): never {
  const who = typeof record.username === 'string' ? ` (${record.username})` : '';
  throw new GatehouseError('invalid_request', `users[${index}]${who}: ${message}`, { field: `users[${index}]${field ? `.${field}` : ''}` });
}

const KNOWN = IMPORT_FIELDS.flatMap((f) => f.names);

function parseRecord(record: unknown, index: number): NewUserWithPassword {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new GatehouseError('invalid_request', `users[${index}] must be an object`, { field: `users[${index}]` });
  }
  const fields = record as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!KNOWN.includes(name)) refuse(index, fields, name, `unknown field "${name}" (the fields are: ${KNOWN.join(', ')})`);
  }
  let user: Converted = {};
  for (const spec of IMPORT_FIELDS) {
    const given = spec.names.filter((name) => Object.hasOwn(fields, name));
    if (given.length > 1) refuse(index, fields, given[1]!, `give ${given.join(' or ')}, not both`);
    const name = given[0];
    if (name === undefined) {
      if (spec.required) refuse(index, fields, spec.names[0]!, `${spec.names.join(' (or ')}${spec.names.length > 1 ? ')' : ''} is required: ${spec.help}`);
      continue;
    }
    const converted = spec.convert(fields[name]);
    if (typeof converted === 'string') refuse(index, fields, name, `${name} ${converted}`);
    user = { ...user, ...converted };
  }
  return user as NewUserWithPassword;
}

/** The users of an import file's parsed JSON, or the first problem, naming the record and the field. */
export function parseImportFile(content: unknown): NewUserWithPassword[] {
  const list = Array.isArray(content) ? content : (content as { users?: unknown } | null)?.users;
  if (!Array.isArray(list)) {
    throw new GatehouseError('invalid_request', 'the file must hold a JSON array of users, or { "users": [...] }');
  }
  if (content !== list && Object.keys(content as object).some((key) => key !== 'users')) {
    throw new GatehouseError('invalid_request', 'the file\'s top-level object may only have "users"');
  }
  return list.map(parseRecord);
}
