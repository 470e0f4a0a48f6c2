// Shared Signals streams (docs/adr/0016-shared-signals.md), two ways in:
// - for receivers, the SSF 1.0 transmitter endpoints: /.well-known/ssf-configuration, stream
//   management at /ssf/streams, /ssf/status, /ssf/verify, and RFC 8936 polling at /ssf/poll/{id}.
//   A receiver is an OAuth client with a token for the admin API carrying `admin:streams:write`;
//   it sees and changes its own streams only (another's is a 404).
// - for operators, /admin/api/streams: every stream, its delivery state and lag; pause, resume,
//   disable, delete.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type, { type Static } from 'typebox';
import { GatehouseError } from '../../errors.ts';
import { latestSeq } from '../../storage/security-events.ts';
import { createStream, deleteStream, findStream, listStreams, requireStream, setStreamStatus, updateStream, type Stream } from '../../storage/streams.ts';
import { streamLag } from '../../signals/lag.ts';
import type { Transmitter } from '../../signals/transmitter.ts';
import { SUPPORTED_EVENT_URIS } from '../../signals/set.ts';
import { isLoopbackHost } from '../../storage/validate.ts';
import { noteAudit } from '../audit.ts';
import { adminApiIdentifier } from '../scopes.ts';
import * as S from '../schemas.ts';
import { NoContent, responses, type AdminContext } from './common.ts';

export const PUSH = 'urn:ietf:rfc:8935';
export const POLL = 'urn:ietf:rfc:8936';

const tags = ['streams'];
const receiver = { scopes: ['admin:streams:write'] };

const Delivery = Type.Object(
  {
    method: Type.Union([Type.Literal(PUSH), Type.Literal(POLL)], { description: `\`${PUSH}\` (push: give \`endpoint_url\`) or \`${POLL}\` (poll).` }),
    endpoint_url: Type.Optional(Type.String({ maxLength: 2048, description: 'Push: where SETs are POSTed (https, or http on a loopback address). Poll: set by the transmitter.' })),
    authorization_header: Type.Optional(Type.String({ maxLength: 4096, description: 'Push: the Authorization header sent with each SET (kept encrypted; never shown again).' })),
  },
  { additionalProperties: false },
);

const StreamInput = Type.Object(
  {
    delivery: Delivery,
    events_requested: Type.Optional(Type.Array(Type.String({ maxLength: 512 }), { maxItems: 32, description: 'Event type URIs; every supported one when absent.' })),
    description: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

const StreamUpdate = Type.Object(
  {
    stream_id: Type.String({ minLength: 1, maxLength: 64 }),
    delivery: Type.Optional(Delivery),
    events_requested: Type.Optional(Type.Array(Type.String({ maxLength: 512 }), { maxItems: 32 })),
    description: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

const StreamConfiguration = Type.Object(
  {
    stream_id: Type.String(),
    iss: Type.String(),
    aud: Type.String({ description: 'The receiver: the client that created the stream.' }),
    delivery: Type.Object({ method: Type.String(), endpoint_url: Type.Optional(Type.String()) }),
    events_supported: Type.Array(Type.String()),
    events_requested: Type.Array(Type.String()),
    events_delivered: Type.Array(Type.String()),
    description: Type.Optional(Type.String()),
  },
  { description: 'A stream (SSF 1.0 §8.1.1).' },
);

const StreamQuery = Type.Object({ stream_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }, { additionalProperties: false });
const StreamIdQuery = Type.Object({ stream_id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const Status = Type.Union([Type.Literal('enabled'), Type.Literal('paused'), Type.Literal('disabled')]);
const StatusBody = Type.Object(
  { stream_id: Type.String({ minLength: 1, maxLength: 64 }), status: Status, reason: Type.Optional(Type.String({ maxLength: 200 })) },
  { additionalProperties: false },
);
const StatusAnswer = Type.Object({ stream_id: Type.String(), status: Type.String(), reason: Type.Optional(Type.String()) });
const VerifyBody = Type.Object({ stream_id: Type.String({ minLength: 1, maxLength: 64 }), state: Type.Optional(Type.String({ maxLength: 256 })) }, { additionalProperties: false });
const PollBody = Type.Object(
  {
    maxEvents: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    returnImmediately: Type.Optional(Type.Boolean()),
    ack: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 1000 })),
    setErrs: Type.Optional(Type.Record(Type.String({ maxLength: 128 }), Type.Object({ err: Type.String({ maxLength: 64 }), description: Type.Optional(Type.String({ maxLength: 1000 })) }))),
  },
  { additionalProperties: false },
);
const PollAnswer = Type.Object({ sets: Type.Record(Type.String(), Type.String()), moreAvailable: Type.Boolean() });

const OperatorStream = Type.Object(
  {
    id: Type.String(),
    client_id: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    delivery_method: Type.String({ description: '`push` or `poll`.' }),
    endpoint_url: Type.Union([Type.String(), Type.Null()]),
    events_requested: Type.Array(Type.String()),
    status: Type.String(),
    status_reason: Type.Union([Type.String(), Type.Null()]),
    pending: Type.Integer({ description: 'Events recorded and not yet delivered (push) or acknowledged (poll): the lag.' }),
    created_at: Type.String(),
    last_delivery_at: Type.Union([Type.String(), Type.Null()]),
    last_poll_at: Type.Union([Type.String(), Type.Null()]),
    failures: Type.Integer({ description: 'Consecutive failed pushes.' }),
    next_attempt_at: Type.Union([Type.String(), Type.Null()]),
    last_error: Type.Union([Type.String(), Type.Null()]),
  },
  {
    description: 'A Shared Signals stream and how its delivery goes.',
    examples: [
      {
        id: '0f6c1c9e-3f0b-4d5e-9a57-2f9d8c1b7e42',
        client_id: 'items-api',
        description: '@gatehouse/sdk http://localhost:8001',
        delivery_method: 'poll',
        endpoint_url: null,
        events_requested: ['https://schemas.openid.net/secevent/caep/event-type/session-revoked'],
        status: 'enabled',
        status_reason: null,
        pending: 0,
        created_at: '2026-12-01T09:30:00.000Z',
        last_delivery_at: '2026-12-01T10:02:11.000Z',
        last_poll_at: '2026-12-01T10:02:11.000Z',
        failures: 0,
        next_attempt_at: null,
        last_error: null,
      },
    ],
  },
);

/** Push URLs: https, or http to this machine (development, tests). */
function checkEndpoint(url: string | undefined): string {
  if (url === undefined) throw new GatehouseError('invalid_request', 'a push stream needs delivery.endpoint_url', { field: 'delivery.endpoint_url' });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new GatehouseError('invalid_request', 'delivery.endpoint_url is not a URL', { field: 'delivery.endpoint_url' });
  }
  const loopback = isLoopbackHost(parsed.hostname) || /^127\./.test(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
    throw new GatehouseError('invalid_request', 'delivery.endpoint_url must be https (http only on a loopback address)', { field: 'delivery.endpoint_url' });
  }
  if (parsed.username || parsed.password || parsed.hash) {
    throw new GatehouseError('invalid_request', 'delivery.endpoint_url carries no credentials and no fragment', { field: 'delivery.endpoint_url' });
  }
  return parsed.href;
}

function checkEvents(events: readonly string[] | undefined): string[] {
  if (events === undefined) return [...SUPPORTED_EVENT_URIS];
  const unknown = events.filter((uri) => !SUPPORTED_EVENT_URIS.includes(uri));
  // SSF §8.1.1: the transmitter delivers the intersection; asking only for unknown events is a mistake worth saying.
  if (events.length > 0 && unknown.length === events.length) {
    throw new GatehouseError('invalid_request', `no supported event type among events_requested: ${unknown.join(', ')}`, { field: 'events_requested' });
  }
  return [...new Set(events.filter((uri) => SUPPORTED_EVENT_URIS.includes(uri)))];
}

export async function streamRoutes(app: FastifyInstance, { db, config, signals }: AdminContext): Promise<void> {
  const issuer = config.publicUrl;

  const configuration = (stream: Stream): Static<typeof StreamConfiguration> => ({
    stream_id: stream.id,
    iss: issuer,
    aud: stream.clientId,
    delivery:
      stream.deliveryMethod === 'push'
        ? { method: PUSH, endpoint_url: stream.endpointUrl! }
        : { method: POLL, endpoint_url: `${issuer}/ssf/poll/${stream.id}` },
    events_supported: [...SUPPORTED_EVENT_URIS],
    events_requested: [...stream.eventsRequested],
    events_delivered: [...stream.eventsRequested],
    ...(stream.description === null ? {} : { description: stream.description }),
  });

  /** The receiver of a request: the client its credential was issued to. */
  const receiverOf = (request: FastifyRequest): string => {
    const clientId = request.auth?.clientId;
    if (clientId === undefined) throw new GatehouseError('forbidden', 'streams belong to a client: use a token issued to one');
    return clientId;
  };

  /** The caller's own stream; another client's is not found, as if it did not exist. */
  const ownStream = async (request: FastifyRequest, id: string): Promise<Stream> => {
    const stream = await findStream(db, id);
    if (!stream || stream.clientId !== receiverOf(request)) throw new GatehouseError('not_found', `no stream ${id}`, { field: 'stream_id' });
    noteAudit(request, { target: { kind: 'stream', id: stream.id } });
    return stream;
  };

  app.get(
    '/.well-known/ssf-configuration',
    { schema: { hide: true } },
    async () => ({
      spec_version: '1_0',
      issuer,
      jwks_uri: `${issuer}/jwks`,
      delivery_methods_supported: [PUSH, POLL],
      configuration_endpoint: `${issuer}/ssf/streams`,
      status_endpoint: `${issuer}/ssf/status`,
      verification_endpoint: `${issuer}/ssf/verify`,
      // OAuth 2.0 (client credentials); Gatehouse adds which API (RFC 8707 resource) and scope the token is for.
      authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749', resource: adminApiIdentifier(issuer), scope: 'admin:streams:write' }],
      default_subjects: 'ALL',
    }),
  );

  app.post<{ Body: Static<typeof StreamInput> }>(
    '/ssf/streams',
    {
      auth: receiver,
      config: { audit: { type: 'stream.created', target: 'stream' } },
      schema: { hide: true, tags, operationId: 'createStream', summary: 'Create a stream (SSF 1.0 §8.1.1.1)', body: StreamInput, response: responses({ 201: StreamConfiguration }, 400, 409) },
    },
    async (request, reply) => {
      const { delivery } = request.body;
      const push = delivery.method === PUSH;
      if (!push && (delivery.endpoint_url !== undefined || delivery.authorization_header !== undefined)) {
        throw new GatehouseError('invalid_request', 'a poll stream takes no endpoint_url or authorization_header: the transmitter gives the poll URL', { field: 'delivery' });
      }
      const stream = await createStream(db, {
        clientId: receiverOf(request),
        description: request.body.description,
        deliveryMethod: push ? 'push' : 'poll',
        endpointUrl: push ? checkEndpoint(delivery.endpoint_url) : undefined,
        authorizationHeader: delivery.authorization_header,
        eventsRequested: checkEvents(request.body.events_requested),
      });
      noteAudit(request, { target: { kind: 'stream', id: stream.id }, details: { delivery_method: stream.deliveryMethod } });
      return reply.code(201).send(configuration(stream));
    },
  );

  app.get<{ Querystring: Static<typeof StreamQuery> }>(
    '/ssf/streams',
    {
      auth: receiver,
      schema: {
        hide: true,
        tags,
        operationId: 'readStreams',
        summary: 'Read a stream, or list the caller\'s streams (SSF 1.0 §8.1.1.2)',
        querystring: StreamQuery,
        response: responses({ 200: Type.Union([StreamConfiguration, Type.Array(StreamConfiguration)]) }, 400, 404),
      },
    },
    async (request) => {
      if (request.query.stream_id !== undefined) return configuration(await ownStream(request, request.query.stream_id));
      return (await listStreams(db, { clientId: receiverOf(request), limit: 200 })).items.map(configuration);
    },
  );

  const update = async (request: FastifyRequest<{ Body: Static<typeof StreamUpdate> }>) => {
    const stream = await ownStream(request, request.body.stream_id);
    const { delivery, events_requested, description } = request.body;
    if (delivery !== undefined && (delivery.method === PUSH) !== (stream.deliveryMethod === 'push')) {
      throw new GatehouseError('invalid_request', 'a stream keeps its delivery method: create another stream', { field: 'delivery.method' });
    }
    const updated = await updateStream(db, stream.id, {
      ...(description !== undefined ? { description } : {}),
      ...(events_requested !== undefined ? { eventsRequested: checkEvents(events_requested) } : {}),
      ...(delivery !== undefined && stream.deliveryMethod === 'push'
        ? { endpointUrl: checkEndpoint(delivery.endpoint_url), ...(delivery.authorization_header !== undefined ? { authorizationHeader: delivery.authorization_header } : {}) }
        : {}),
    });
    return configuration(updated);
  };
  for (const method of ['patch', 'put'] as const) {
    app[method]<{ Body: Static<typeof StreamUpdate> }>(
      '/ssf/streams',
      {
        auth: receiver,
        config: { audit: { type: 'stream.updated', target: 'stream' } },
        schema: {
          hide: true,
          tags,
          operationId: method === 'patch' ? 'updateStream' : 'replaceStream',
          summary: `${method === 'patch' ? 'Update' : 'Replace'} a stream's configuration (SSF 1.0 §8.1.1.${method === 'patch' ? 3 : 4})`,
          body: StreamUpdate,
          response: responses({ 200: StreamConfiguration }, 400, 404),
        },
      },
      update,
    );
  }

  app.delete<{ Querystring: Static<typeof StreamIdQuery> }>(
    '/ssf/streams',
    {
      auth: receiver,
      config: { audit: { type: 'stream.deleted', target: 'stream' } },
      schema: { hide: true, tags, operationId: 'deleteStream', summary: 'Delete a stream (SSF 1.0 §8.1.1.5)', querystring: StreamIdQuery, response: responses({ 204: NoContent('Deleted.') }, 400, 404) },
    },
    async (request, reply) => {
      const stream = await ownStream(request, request.query.stream_id);
      await deleteStream(db, stream.id);
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: Static<typeof StreamIdQuery> }>(
    '/ssf/status',
    {
      auth: receiver,
      schema: { hide: true, tags, operationId: 'readStreamStatus', summary: 'A stream\'s status (SSF 1.0 §8.1.2.1)', querystring: StreamIdQuery, response: responses({ 200: StatusAnswer }, 400, 404) },
    },
    async (request) => statusOf(await ownStream(request, request.query.stream_id)),
  );

  app.post<{ Body: Static<typeof StatusBody> }>(
    '/ssf/status',
    {
      auth: receiver,
      config: { audit: { type: 'stream.status_changed', target: 'stream' } },
      schema: { hide: true, tags, operationId: 'updateStreamStatus', summary: 'Enable, pause or disable a stream (SSF 1.0 §8.1.2.2)', body: StatusBody, response: responses({ 200: StatusAnswer }, 400, 404) },
    },
    async (request) => {
      const stream = await ownStream(request, request.body.stream_id);
      noteAudit(request, { details: { status: request.body.status } });
      return statusOf(await setStreamStatus(db, stream.id, request.body.status, request.body.reason ?? null));
    },
  );

  app.post<{ Body: Static<typeof VerifyBody> }>(
    '/ssf/verify',
    {
      auth: receiver,
      schema: { hide: true, tags, operationId: 'verifyStream', summary: 'Ask for a verification event (SSF 1.0 §8.1.4.2)', body: VerifyBody, response: responses({ 204: NoContent('A verification event is on its way.') }, 400, 404) },
    },
    async (request, reply) => {
      await signals.verify(await ownStream(request, request.body.stream_id), request.body.state);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: S.IdParams; Body: Static<typeof PollBody> }>(
    '/ssf/poll/:id',
    {
      auth: receiver,
      schema: {
        hide: true,
        tags,
        operationId: 'pollStream',
        summary: 'Poll a stream\'s events (RFC 8936)',
        description: 'Acknowledge what was received (`ack`, `setErrs`), get what is pending (`sets`, at most `maxEvents`). Without `returnImmediately`, an empty answer waits up to 10 s for events.',
        params: S.IdParams,
        body: PollBody,
        response: responses({ 200: PollAnswer }, 400, 404),
      },
    },
    async (request) => {
      const stream = await ownStream(request, request.params.id);
      if (stream.deliveryMethod !== 'poll') throw new GatehouseError('invalid_request', 'this stream is delivered by push, not polled', { field: 'id' });
      const { ack = [], setErrs = {}, maxEvents = 10, returnImmediately = false } = request.body;
      if (Object.keys(setErrs).length > 0) request.log.warn({ stream: stream.id, setErrs: Object.fromEntries(Object.entries(setErrs).map(([jti, e]) => [jti, e.err])) }, 'Shared Signals: a receiver refused security events');
      return signals.poll(stream, { ack, setErrs: new Set(Object.keys(setErrs)), maxEvents, returnImmediately });
    },
  );

  // The operators' view: every stream.
  const operatorView = async (stream: Stream, latest: number): Promise<Static<typeof OperatorStream>> => ({
    id: stream.id,
    client_id: stream.clientId,
    description: stream.description,
    delivery_method: stream.deliveryMethod,
    endpoint_url: stream.endpointUrl,
    events_requested: [...stream.eventsRequested],
    status: stream.status,
    status_reason: stream.statusReason,
    pending: await streamLag(db, stream, latest),
    created_at: stream.createdAt,
    last_delivery_at: stream.lastDeliveryAt,
    last_poll_at: stream.lastPollAt,
    failures: stream.failures,
    next_attempt_at: stream.nextAttemptAt === null ? null : new Date(stream.nextAttemptAt).toISOString(),
    last_error: stream.lastError,
  });

  app.get<{ Querystring: Static<typeof S.PageQuery> }>(
    '/admin/api/streams',
    {
      auth: { scopes: ['admin:streams:read'] },
      schema: { tags, operationId: 'listStreams', summary: 'List Shared Signals streams with their delivery state', querystring: S.PageQuery, response: responses({ 200: S.Page(OperatorStream, 'A page of streams.') }, 400) },
    },
    async (request) => {
      const page = await listStreams(db, request.query);
      const latest = await latestSeq(db);
      return { ...page, items: await Promise.all(page.items.map((stream) => operatorView(stream, latest))) };
    },
  );

  app.get<{ Params: S.IdParams }>(
    '/admin/api/streams/:id',
    {
      auth: { scopes: ['admin:streams:read'] },
      schema: { tags, operationId: 'getStream', summary: 'A stream and its delivery state', params: S.IdParams, response: responses({ 200: OperatorStream }, 404) },
    },
    async (request) => operatorView(await requireStream(db, request.params.id), await latestSeq(db)),
  );

  app.post<{ Params: S.IdParams; Body: { status: 'enabled' | 'paused' | 'disabled'; reason?: string } }>(
    '/admin/api/streams/:id/status',
    {
      auth: { scopes: ['admin:streams:write'] },
      config: { audit: { type: 'stream.status_changed', target: 'stream' } },
      schema: {
        tags,
        operationId: 'setStreamStatus',
        summary: 'Pause, resume (enabled) or disable a stream',
        description: 'A paused stream keeps its events for later; a disabled one drops them. The receiver is told with an SSF stream-updated event.',
        params: S.IdParams,
        body: Type.Object({ status: Status, reason: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false }),
        response: responses({ 200: OperatorStream }, 400, 404),
      },
    },
    async (request) => {
      const stream = await requireStream(db, request.params.id);
      noteAudit(request, { details: { status: request.body.status } });
      const changed = await setStreamStatus(db, stream.id, request.body.status, request.body.reason ?? null);
      return operatorView(changed, await latestSeq(db));
    },
  );

  app.delete<{ Params: S.IdParams }>(
    '/admin/api/streams/:id',
    {
      auth: { scopes: ['admin:streams:write'] },
      config: { audit: { type: 'stream.deleted', target: 'stream' } },
      schema: { tags, operationId: 'deleteStreamAsOperator', summary: 'Delete a stream', params: S.IdParams, response: responses({ 204: NoContent('Deleted.') }, 404) },
    },
    async (request, reply) => {
      await deleteStream(db, (await requireStream(db, request.params.id)).id);
      return reply.code(204).send();
    },
  );
}

function statusOf(stream: Stream): Static<typeof StatusAnswer> {
  return { stream_id: stream.id, status: stream.status, ...(stream.statusReason ? { reason: stream.statusReason } : {}) };
}
