// What a started server has open beyond the defaults, said at start (SECURITY.md: "the start banner
// says what is on"): self-registration, clients with the password grant, development-only settings.
// An operator reading the log of a production start sees at once what anyone on the network can do.
import { settings, type Config } from '../config/schema.ts';
import { clientIdsWithGrant } from '../storage/clients.ts';
import type { Db } from '../storage/database.ts';

export interface BannerLine {
  /** `warn` for something open (on purpose or not), `info` for the summary. */
  readonly level: 'info' | 'warn';
  readonly message: string;
}

/** The settings whose development-only default is in use. */
export function developmentSettings(config: Config): string[] {
  return Object.entries(settings)
    .filter(([key, definition]) => 'devOnlyDefault' in definition && definition.devOnlyDefault && config[key as keyof Config] === definition.default)
    .map(([, definition]) => definition.env);
}

export async function startBanner(config: Config, db: Db): Promise<BannerLine[]> {
  const passwordClients = await clientIdsWithGrant(db, 'password');
  const development = developmentSettings(config);
  const lines: BannerLine[] = [];
  if (config.registration) {
    lines.push({ level: 'warn', message: 'registration is on: anyone can create an account from the login page (GATEHOUSE_REGISTRATION=true)' });
  }
  if (config.dynamicClientRegistration) {
    lines.push({
      level: 'warn',
      message: 'dynamic client registration is on: any client may register itself at /connect/register and get tokens for the APIs open to dynamically registered clients (GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION=true)',
    });
  }
  if (config.clientIdMetadataDocuments) {
    lines.push({
      level: 'warn',
      message: `client metadata documents are on: a client_id may be an https URL, fetched to learn the client, which then gets tokens for the APIs open to dynamic clients (GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS=true${config.clientIdMetadataDocumentsLoopback ? '; also from this machine, for development' : ''})`,
    });
  }
  if (passwordClients.length > 0) {
    lines.push({
      level: 'warn',
      message: `the password grant is on for ${passwordClients.length} client(s): ${passwordClients.join(', ')} (RFC 9700 §2.4 advises against it; remove it with the admin API)`,
    });
  }
  if (development.length > 0) {
    lines.push({ level: 'warn', message: `development settings in use: ${development.join(', ')} (see the warnings above)` });
  }
  lines.push({
    level: 'info',
    message: [
      `registration ${config.registration ? 'on' : 'off'}`,
      `password grant ${passwordClients.length > 0 ? `on for ${passwordClients.join(', ')}` : 'off (no client has it)'}`,
      `dynamic client registration ${config.dynamicClientRegistration ? 'on' : 'off'}`,
      `client metadata documents ${config.clientIdMetadataDocuments ? 'on' : 'off'}`,
      `development settings ${development.length > 0 ? development.join(', ') : 'none'}`,
      `admin console ${config.adminConsole ? 'on at /admin' : 'off (GATEHOUSE_ADMIN_CONSOLE=false)'}`,
    ].join('; '),
  });
  return lines;
}
