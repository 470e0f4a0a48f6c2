// Security Event Tokens (RFC 8417) as Shared Signals 1.0 and CAEP 1.0 / RISC 1.0 describe them:
// what a recorded security event (storage/security-events.ts) looks like on the wire.
// docs/adr/0016-shared-signals.md lists every event and why it is written this way.
import type { EventSubject, SecurityEvent, SecurityEventType } from '../storage/security-events.ts';

/** The event type URI of each event. Events CAEP and RISC do not define are Gatehouse's own URNs. */
export const EVENT_TYPE_URIS: Readonly<Record<SecurityEventType, string>> = {
  'session-revoked': 'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  'credential-change': 'https://schemas.openid.net/secevent/caep/event-type/credential-change',
  'token-claims-change': 'https://schemas.openid.net/secevent/caep/event-type/token-claims-change',
  'account-disabled': 'https://schemas.openid.net/secevent/risc/event-type/account-disabled',
  'account-enabled': 'https://schemas.openid.net/secevent/risc/event-type/account-enabled',
  'api-key-revoked': 'urn:gatehouse:secevent:api-key-revoked',
  'client-revoked': 'urn:gatehouse:secevent:client-revoked',
  'signing-key-retired': 'urn:gatehouse:secevent:signing-key-retired',
  verification: 'https://schemas.openid.net/secevent/ssf/event-type/verification',
  'stream-updated': 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated',
};

/** What a receiver may ask for: every event but the two about the stream itself, always delivered. */
export const SUPPORTED_EVENT_URIS: readonly string[] = Object.entries(EVENT_TYPE_URIS)
  .filter(([type]) => type !== 'verification' && type !== 'stream-updated')
  .map(([, uri]) => uri);

const STREAM_EVENTS: ReadonlySet<SecurityEventType> = new Set(['verification', 'stream-updated']);

/** Whether a stream that asked for `requested` is sent `event` (stream events always are). */
export function isWanted(event: SecurityEvent, requested: ReadonlySet<string>): boolean {
  return STREAM_EVENTS.has(event.type) || requested.has(EVENT_TYPE_URIS[event.type]);
}

/**
 * The RFC 9493 subject identifier. A user is `iss_sub` (the `sub` of their tokens); a client is
 * the `application` of an SSF complex subject; a user with a client (one grant) is both; an API
 * key, a signing key and a stream are `opaque` ids.
 */
export function subjectIdentifier(subject: EventSubject, issuer: string): Record<string, unknown> {
  if (subject.stream !== undefined) return { format: 'opaque', id: subject.stream };
  if (subject.apiKey !== undefined) return { format: 'opaque', id: subject.apiKey };
  if (subject.signingKey !== undefined) return { format: 'opaque', id: subject.signingKey };
  const user = subject.user === undefined ? undefined : { format: 'iss_sub', iss: issuer, sub: subject.user };
  if (subject.client === undefined && user !== undefined) return user;
  return { format: 'complex', ...(user ? { user } : {}), application: { format: 'opaque', id: subject.client } };
}

/** The claims of the SET for `event` sent to the receiver `audience` (the stream's client). */
export function securityEventClaims(event: SecurityEvent, issuer: string, audience: string): Record<string, unknown> {
  const owner =
    event.subject.apiKey !== undefined && (event.subject.user !== undefined || event.subject.client !== undefined)
      ? { owner: subjectIdentifier({ ...event.subject, apiKey: undefined }, issuer) }
      : {};
  return {
    iss: issuer,
    jti: event.jti,
    iat: Math.floor(event.occurredAt / 1000),
    aud: audience,
    sub_id: subjectIdentifier(event.subject, issuer),
    events: {
      [EVENT_TYPE_URIS[event.type]]: {
        ...event.payload,
        ...owner,
        ...(STREAM_EVENTS.has(event.type) ? {} : { event_timestamp: Math.floor(event.occurredAt / 1000) }),
      },
    },
  };
}
