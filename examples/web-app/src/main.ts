// Runs the notes web app: the repository's `npm start` (with Gatehouse and the items API), or
// `npm start` in this folder with the environment below.
import { buildNotesApp } from './app.ts';

const env = process.env;
const required = (name: string): string => {
  const value = env[name];
  if (value === undefined || value === '') {
    process.stderr.write(`${name} is required (the repository's npm start sets it; see examples/web-app/README.md)\n`);
    process.exit(1);
  }
  return value;
};

const publicUrl = env.WEB_APP_PUBLIC_URL ?? 'http://localhost:8002';
const app = await buildNotesApp({
  issuer: env.WEB_APP_ISSUER ?? 'http://localhost:8000',
  publicUrl,
  api: env.WEB_APP_API ?? 'http://localhost:8001',
  clientId: env.WEB_APP_CLIENT_ID ?? 'web-app',
  clientSecret: required('WEB_APP_CLIENT_SECRET'),
  // Several secrets, comma-separated and newest first, rotate the cookie key.
  secret: required('WEB_APP_SECRET').split(','),
  logger: true,
});
app.log.info({ publicUrl }, 'notes web app');
await app.listen({ port: Number(env.WEB_APP_PORT ?? (new URL(publicUrl).port || 8002)), host: env.WEB_APP_HOST ?? 'localhost' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
