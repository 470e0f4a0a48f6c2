// Configuration: one schema, checked at boot; every error names the setting and what it takes,
// secrets are never echoed, and docs/configuration.md is generated from the same schema.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '@gatehouse/test-support/files';
import { REPO_ROOT } from '@gatehouse/test-support/gatehouse';
import { renderConfigurationDocs } from '../src/config/docs.ts';
import { ConfigError, loadConfig } from '../src/config/load.ts';
import { settings, type SettingKey } from '../src/config/schema.ts';

type Env = Record<string, string | undefined>;

/** The ConfigError that loading this environment throws. */
function problemsOf(env: Env): readonly string[] {
  let caught: unknown;
  assert.throws(
    () => loadConfig(env),
    (error) => {
      caught = error;
      return error instanceof ConfigError;
    },
  );
  return (caught as ConfigError).problems;
}

function writeConfigFile(dir: string, content: unknown): string {
  const path = join(dir, 'gatehouse.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

test('with nothing set, every setting has its documented default, and dev-only defaults warn', () => {
  const { config, warnings } = loadConfig({});
  for (const [key, definition] of Object.entries(settings)) {
    assert.deepEqual(config[key as SettingKey], definition.default, key);
  }
  assert.deepEqual(
    [config.publicUrl, config.port, config.host, config.databaseUrl, config.redisUrl, config.accessTokenTtl, config.refreshTokenTtl],
    ['http://localhost:8000', 8000, 'localhost', 'sqlite:./data/gatehouse.db', undefined, 900, 14 * 86400],
  );
  assert.equal(config.trustProxy, false, 'forwarded headers are not trusted unless asked');
  assert.equal(config.registration, false, 'nobody can create an account unless the operator opens registration');
  assert.ok(Object.isFrozen(config));
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /^GATEHOUSE_PUBLIC_URL is not set/);
  assert.match(warnings[1]!, /^GATEHOUSE_SMTP_URL is not set: email is written to the log/);
  assert.deepEqual(loadConfig({ GATEHOUSE_PUBLIC_URL: 'https://auth.example.com', GATEHOUSE_SMTP_URL: 'smtp://mail.example.com:587' }).warnings, []);
});

test('each bad value fails at load, naming the variable and what it accepts', () => {
  const cases: [env: string, value: string, accepts: RegExp][] = [
    ['GATEHOUSE_PUBLIC_URL', 'auth.example.com', /an http:\/\/ or https:\/\/ URL with no path, query or fragment/],
    ['GATEHOUSE_PORT', 'eighty', /an integer from 0 to 65535/],
    ['GATEHOUSE_PORT', '65536', /an integer from 0 to 65535/],
    ['GATEHOUSE_PORT', '80.5', /an integer from 0 to 65535/],
    ['GATEHOUSE_PORT', '-1', /an integer from 0 to 65535/],
    ['GATEHOUSE_DATABASE_URL', 'mysql://db/gatehouse', /sqlite:<path> or postgres:\/\/…/],
    ['GATEHOUSE_DATABASE_URL', 'sqlite:', /sqlite:<path> or postgres:\/\/…/],
    ['GATEHOUSE_REDIS_URL', 'memcached://cache', /redis:\/\/… or rediss:\/\/…/],
    ['GATEHOUSE_LOG_LEVEL', 'verbose', /one of fatal, error, warn, info, debug, trace, silent/],
    ['GATEHOUSE_TRUST_PROXY', 'maybe', /false; the number of proxies in front of the server \(1 to 10\); or a comma-separated list of proxy addresses/],
    ['GATEHOUSE_REGISTRATION', 'maybe', /true or false/],
    ['GATEHOUSE_DEFAULT_API', 'items api', /an absolute URL/],
    ['GATEHOUSE_ACCESS_TOKEN_TTL', '10', /a duration \(seconds, or a number with s, m, h or d\) from 30s to 1d/],
    ['GATEHOUSE_ACCESS_TOKEN_TTL', '2d', /from 30s to 1d/],
    ['GATEHOUSE_REFRESH_TOKEN_TTL', 'forever', /from 1m to 365d/],
    ['GATEHOUSE_REFRESH_TOKEN_REUSE_GRACE', '2m', /from 0s to 1m/],
    ['GATEHOUSE_AUTHORIZATION_CODE_TTL', '11m', /from 10s to 10m/],
    ['GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT', '0', /an integer from 1 to 1000/],
    ['GATEHOUSE_BODY_LIMIT', '1k', /an integer from 1024 to 10485760/],
  ];
  for (const [env, value, accepts] of cases) {
    const problems = problemsOf({ [env]: value });
    assert.equal(problems.length, 1, `${env}=${value}: ${problems.join('; ')}`);
    assert.ok(problems[0]!.startsWith(`${env}: expected `), problems[0]);
    assert.match(problems[0]!, accepts);
  }
  // Not secret: saying what was given helps.
  assert.match(problemsOf({ GATEHOUSE_PORT: 'eighty' })[0]!, /got "eighty"/);
});

test('several bad values are all reported at once', () => {
  let error: ConfigError | undefined;
  try {
    loadConfig({ GATEHOUSE_PORT: 'x', GATEHOUSE_LOG_LEVEL: 'loud', GATEHOUSE_SESSION_TTL: '1s', GATEHOUSE_HOST: '0.0.0.0' });
  } catch (caught) {
    error = caught as ConfigError;
  }
  assert.ok(error instanceof ConfigError);
  assert.deepEqual(
    error.problems.map((p) => p.split(':')[0]),
    ['GATEHOUSE_PORT', 'GATEHOUSE_LOG_LEVEL', 'GATEHOUSE_SESSION_TTL'],
  );
  for (const problem of error.problems) assert.ok(error.message.includes(problem), 'the message lists every problem');
});

test('secret settings never echo what was given, passwords least of all', () => {
  const password = 'hunter2-Pa55word';
  const bad = {
    GATEHOUSE_DATABASE_URL: `mysql://admin:${password}@db.internal:3306/gatehouse`,
    GATEHOUSE_REDIS_URL: `http://default:${password}@cache.internal:6379`,
    GATEHOUSE_SMTP_URL: `imap://admin:${password}@cache.internal:993`,
  };
  const problems = problemsOf(bad);
  assert.equal(problems.length, 3);
  for (const problem of problems) {
    assert.ok(!problem.includes(password), problem);
    assert.ok(!problem.includes('admin') && !problem.includes('db.internal') && !problem.includes('cache.internal'), problem);
  }
  assert.throws(() => loadConfig(bad), (error: Error) => !error.message.includes(password) && !String(error.stack).includes(password));

  // Good secret values are used as given, and the docs' way of showing a value hides the password.
  const url = `postgres://gatehouse:${password}@db.internal:5432/gatehouse`;
  const { config, warnings } = loadConfig({ GATEHOUSE_DATABASE_URL: url, GATEHOUSE_REDIS_URL: `rediss://:${password}@cache:6380` });
  assert.equal(config.databaseUrl, url);
  assert.ok(!JSON.stringify(warnings).includes(password));
  assert.ok(!settings.databaseUrl.type.show(url).includes(password));
  assert.ok(!settings.redisUrl.type.show(config.redisUrl).includes(password));
  assert.ok(!settings.smtpUrl.type.show(`smtps://mailer:${password}@mail.example.com`).includes(password));
});

test('branding: a name, a #rrggbb colour and an https (or same-server) logo; anything else is refused', () => {
  const { config } = loadConfig({ GATEHOUSE_BRAND_NAME: 'Acme ID', GATEHOUSE_BRAND_COLOR: '#0a7d4f', GATEHOUSE_BRAND_LOGO_URL: 'https://cdn.acme.test/logo.svg' });
  assert.deepEqual([config.brandName, config.brandColor, config.brandLogoUrl], ['Acme ID', '#0a7d4f', 'https://cdn.acme.test/logo.svg']);
  assert.equal(loadConfig({ GATEHOUSE_BRAND_LOGO_URL: '/static/logo.png' }).config.brandLogoUrl, '/static/logo.png');
  for (const [name, value] of [
    ['GATEHOUSE_BRAND_COLOR', 'red; } body { display: none'],
    ['GATEHOUSE_BRAND_COLOR', '#abc'],
    ['GATEHOUSE_BRAND_LOGO_URL', 'http://cdn.acme.test/logo.svg'],
    ['GATEHOUSE_BRAND_LOGO_URL', 'javascript:alert(1)'],
    ['GATEHOUSE_BRAND_LOGO_URL', '//evil.test/logo.svg'],
    ['GATEHOUSE_BRAND_NAME', '<script>'],
    ['GATEHOUSE_SMTP_URL', 'mail.example.com:25'],
  ] as const) {
    assert.deepEqual(problemsOf({ [name]: value }).map((p) => p.split(':')[0]), [name], `${name}=${value}`);
  }
});

test('durations are seconds, or a number with s, m, h or d', () => {
  const ttl = (value: string) => loadConfig({ GATEHOUSE_ACCESS_TOKEN_TTL: value }).config.accessTokenTtl;
  assert.equal(ttl('90'), 90);
  assert.equal(ttl('45s'), 45);
  assert.equal(ttl('15m'), 900);
  assert.equal(ttl('2h'), 7200);
  assert.equal(ttl('1d'), 86400);
  assert.equal(ttl(' 15m '), 900, 'surrounding spaces are ignored');
  assert.equal(loadConfig({ GATEHOUSE_REFRESH_TOKEN_TTL: '14d' }).config.refreshTokenTtl, 14 * 86400);
  assert.equal(loadConfig({ GATEHOUSE_REFRESH_TOKEN_REUSE_GRACE: '0' }).config.refreshTokenReuseGrace, 0, '0 turns the grace off');
  for (const bad of ['1.5h', '15 minutes', '-90', 'm', '15w', '1e3']) {
    assert.match(problemsOf({ GATEHOUSE_ACCESS_TOKEN_TTL: bad })[0]!, /^GATEHOUSE_ACCESS_TOKEN_TTL: expected a duration/, bad);
  }
});

test('booleans, integers and choices take their usual spellings only', () => {
  for (const yes of ['true', 'TRUE', '1', 'yes', 'on']) assert.equal(loadConfig({ GATEHOUSE_REGISTRATION: yes }).config.registration, true, yes);
  for (const no of ['false', '0', 'no', 'off']) assert.equal(loadConfig({ GATEHOUSE_REGISTRATION: no }).config.registration, false, no);
  assert.equal(loadConfig({ GATEHOUSE_PORT: '0' }).config.port, 0, 'port 0 picks a free port');
  assert.equal(loadConfig({ GATEHOUSE_LOG_LEVEL: 'silent' }).config.logLevel, 'silent');
  assert.equal(loadConfig({ GATEHOUSE_PORT: '' }).config.port, 8000, 'an empty variable counts as unset');
});

test('the public URL is an origin: a path, query or fragment is refused', () => {
  const publicUrl = (value: string) => loadConfig({ GATEHOUSE_PUBLIC_URL: value }).config.publicUrl;
  assert.equal(publicUrl('https://auth.example.com'), 'https://auth.example.com');
  assert.equal(publicUrl('https://Auth.Example.com/'), 'https://auth.example.com', 'normalized, without the trailing slash');
  assert.equal(publicUrl('http://127.0.0.1:8080'), 'http://127.0.0.1:8080');
  for (const bad of [
    'https://example.com/auth', // the issuer must have no path: discovery lives at /.well-known/ on it
    'https://auth.example.com/?tenant=1',
    'https://auth.example.com/#top',
    'https://user:pass@auth.example.com',
    'ftp://auth.example.com',
    'auth.example.com',
  ]) {
    assert.match(problemsOf({ GATEHOUSE_PUBLIC_URL: bad })[0]!, /^GATEHOUSE_PUBLIC_URL: expected an http:\/\/ or https:\/\/ URL/, bad);
  }
});

test('the JSON config file works; the environment wins over it, and explicit overrides over both', (t) => {
  const dir = tempDir(t);
  const path = writeConfigFile(dir, {
    GATEHOUSE_PORT: 9000,
    GATEHOUSE_LOG_LEVEL: 'debug',
    GATEHOUSE_TRUST_PROXY: ['10.0.0.0/8', 'loopback'],
    accessTokenTtl: '1h', // the schema's key works too
    GATEHOUSE_PUBLIC_URL: 'https://auth.example.com',
    GATEHOUSE_SMTP_URL: 'smtps://mailer:hunter2@mail.example.com',
  });
  const fromFile = loadConfig({ GATEHOUSE_CONFIG_FILE: path });
  assert.deepEqual(
    [fromFile.config.port, fromFile.config.logLevel, fromFile.config.trustProxy, fromFile.config.accessTokenTtl, fromFile.config.publicUrl],
    [9000, 'debug', { addresses: ['10.0.0.0/8', 'loopback'] }, 3600, 'https://auth.example.com'],
  );
  assert.deepEqual(fromFile.warnings, [], 'GATEHOUSE_CONFIG_FILE itself is a known variable');

  const env = { GATEHOUSE_CONFIG_FILE: path, GATEHOUSE_PORT: '9100', GATEHOUSE_ACCESS_TOKEN_TTL: '' };
  const { config } = loadConfig(env);
  assert.equal(config.port, 9100, 'the environment wins');
  assert.equal(config.logLevel, 'debug', 'the file still counts for the rest');
  assert.equal(config.accessTokenTtl, 3600, 'an empty variable does not hide the file');
  assert.equal(loadConfig(env, { port: '9200' }).config.port, 9200, 'overrides (CLI flags) win over both');

  // A bad value in the file is reported like one in the environment.
  const bad = writeConfigFile(dir, { GATEHOUSE_PORT: 'nine thousand', GATEHOUSE_LOG_LEVEL: 'loud' });
  assert.deepEqual(problemsOf({ GATEHOUSE_CONFIG_FILE: bad }).map((p) => p.split(':')[0]), ['GATEHOUSE_PORT', 'GATEHOUSE_LOG_LEVEL']);
});

test('the config file: unknown keys are errors, and so is anything but a JSON object', (t) => {
  const dir = tempDir(t);
  const unknown = writeConfigFile(dir, { GATEHOUSE_PROT: 8000, colour: 'red', constructor: 1, GATEHOUSE_PORT: 8001 });
  const problems = problemsOf({ GATEHOUSE_CONFIG_FILE: unknown });
  assert.deepEqual(problems, ['GATEHOUSE_PROT', 'colour', 'constructor'].map((name) => `GATEHOUSE_CONFIG_FILE: unknown setting "${name}"`));

  // Unknown GATEHOUSE_* environment variables are only warned about: the environment is shared.
  const { warnings } = loadConfig({ GATEHOUSE_PUBLIC_URL: 'https://a.example.com', GATEHOUSE_SMTP_URL: 'smtp://localhost:25', GATEHOUSE_PROT: '1', OTHER: 'x' });
  assert.deepEqual(warnings, ['GATEHOUSE_PROT is not a Gatehouse server setting and is ignored (see docs/configuration.md)']);

  for (const content of ['[1, 2]', '"text"', 'null', '{"GATEHOUSE_PORT": 80', 'PORT=80']) {
    const problems = problemsOf({ GATEHOUSE_CONFIG_FILE: writeConfigFile(dir, content) });
    assert.equal(problems.length, 1, content);
    assert.match(problems[0]!, /^GATEHOUSE_CONFIG_FILE: /, content);
  }
  assert.match(problemsOf({ GATEHOUSE_CONFIG_FILE: join(dir, 'missing.json') })[0]!, /^GATEHOUSE_CONFIG_FILE: cannot read .*missing\.json/);
});

test('docs/configuration.md is the one generated from the schema (run `npm run docs:config`)', () => {
  const committed = readFileSync(join(REPO_ROOT, 'docs/configuration.md'), 'utf8');
  assert.equal(committed, renderConfigurationDocs(), 'docs/configuration.md is stale: run `npm run docs:config`');
  for (const definition of Object.values(settings)) {
    assert.ok(committed.includes(`| \`${definition.env}\` |`), `${definition.env} is documented`);
  }
  assert.match(committed, /`GATEHOUSE_PUBLIC_URL` .*The default is for development only/);
});
