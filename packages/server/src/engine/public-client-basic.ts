// A public client that names itself with HTTP Basic and an empty password, at the token endpoint.
//
// Swagger UI's password flow, with its default "Client credentials location", sends
// `Authorization: Basic base64("docs:")` for a client without a secret, as do FastAPI-era clients.
// oidc-provider reads any Basic header as client_secret_basic and refuses an empty secret
// ("client_secret must be provided in the Authorization header"). A public client has no secret
// to present (RFC 6749 §2.1); the header only says who it is, which RFC 6749 §2.3.1's form
// encoding says with `client_id`. So for a registered public client (`token_endpoint_auth_method`
// `none`) and an empty password only, the header is taken off and `client_id` put in the form:
// the request is then what a public client sends, authenticated as `none`, with the client's own
// rules (PKCE, its grant types) unchanged. A confidential client, or any non-empty password, is
// left to oidc-provider: client authentication itself is never relaxed.
// Decision and test: docs/adr/0014-interop-choices.md, e2e/swagger-login.test.ts.
import type { IncomingMessage } from 'node:http';
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import { isMetadataDocumentClientId } from './metadata-documents.ts';
import { PROVIDER_BODY_LIMIT } from './mount.ts';

/** The client id of `Basic base64("<id>:")` (an empty password), or undefined. */
function publicBasicClientId(authorization: string | undefined): string | undefined {
  const match = /^basic ([A-Za-z0-9+/]+=*)$/i.exec(authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  if (!decoded.endsWith(':') || decoded.indexOf(':') !== decoded.length - 1) return undefined;
  try {
    // RFC 6749 §2.3.1: the id is form-encoded before Basic encoding.
    const clientId = decodeURIComponent(decoded.slice(0, -1).replace(/\+/g, '%20'));
    return clientId === '' ? undefined : clientId;
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Over oidc-provider's own limit: let it answer as it does for any large body.
    if (size > PROVIDER_BODY_LIMIT) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The same request with the given headers, its body (already read) given back. */
function replayedRequest(original: IncomingMessage, headers: IncomingMessage['headers'], body: Buffer): IncomingMessage {
  return Object.create(original, {
    headers: { value: { ...headers, 'content-length': String(body.length) } },
    readable: { value: true },
    readableEncoding: { value: null },
    // What oidc-provider's body reader iterates (lib/shared/selective_body.js).
    iterator: {
      value: async function* () {
        yield body;
      },
    },
  }) as IncomingMessage;
}

export function publicClientBasicMiddleware(provider: Provider, tokenPath: string) {
  return async function publicClientBasic(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
    const clientId = ctx.method === 'POST' && ctx.path === tokenPath && ctx.is('application/x-www-form-urlencoded') ? publicBasicClientId(ctx.get('authorization')) : undefined;
    // A URL id is a metadata document client: looked up here, before oidc-provider's context
    // exists, its document would be fetched outside the per-address limit (metadata-documents.ts).
    // Such a client never has a secret; oidc-provider resolves it (counted) and refuses the header.
    if (clientId === undefined || isMetadataDocumentClientId(clientId)) return next();
    const client = await provider.Client.find(clientId);
    if (client?.clientAuthMethod !== 'none') return next();
    const raw = await readBody(ctx.req);
    const form = new URLSearchParams(raw?.toString('utf8') ?? '');
    // A body too large, or naming another client, goes on unchanged: oidc-provider refuses it.
    if (raw === undefined || (form.has('client_id') && form.get('client_id') !== clientId)) {
      ctx.req = ctx.request.req = replayedRequest(ctx.req, ctx.req.headers, raw ?? Buffer.alloc(0));
      return next();
    }
    form.set('client_id', clientId);
    const { authorization: _, ...headers } = ctx.req.headers;
    ctx.req = ctx.request.req = replayedRequest(ctx.req, headers, Buffer.from(form.toString()));
    return next();
  };
}
