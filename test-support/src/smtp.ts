// A real SMTP server on a free loopback port (the `smtp-server` package), keeping every message it
// receives, parsed (`mailparser`), so tests read the mail Gatehouse sent exactly as a mailbox would.
import type { TestContext } from 'node:test';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  readonly from: string;
}

export interface TestMailbox {
  /** `smtp://127.0.0.1:<port>` for GATEHOUSE_SMTP_URL. */
  readonly url: string;
  readonly messages: ReceivedMail[];
  /** The first message (after those already taken) matching, waiting for it to arrive. */
  waitFor(match: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
}

function addresses(value: ParsedMail['to']): string {
  const list = Array.isArray(value) ? value : value ? [value] : [];
  return list.flatMap((a) => a.value.map((v) => v.address ?? '')).join(', ');
}

export async function startMailbox(t: Pick<TestContext, 'after'>): Promise<TestMailbox> {
  const messages: ReceivedMail[] = [];
  const waiters = new Set<() => void>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          messages.push({
            to: addresses(mail.to),
            from: addresses(mail.from as ParsedMail['to']),
            subject: mail.subject ?? '',
            text: mail.text ?? '',
            html: typeof mail.html === 'string' ? mail.html : '',
          });
          for (const wake of waiters) wake();
          callback();
        })
        .catch((error: Error) => callback(error));
    },
  });
  // Port 0: the server binds at once, so nothing can take the port between choosing and listening.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as { port: number };
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const taken = new Set<ReceivedMail>();
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    waitFor(match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find((m) => !taken.has(m) && match(m));
          if (!found) return false;
          taken.add(found);
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching mail within ${timeoutMs} ms; received: ${messages.map((m) => `${m.to}: ${m.subject}`).join('; ') || 'none'}`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
  };
}

/** The first link in a mail's text that starts with `prefix`. */
export function linkIn(mail: ReceivedMail, prefix: string): string {
  const link = mail.text.split(/\s+/).find((word) => word.startsWith(prefix));
  if (!link) throw new Error(`no link starting with ${prefix} in:\n${mail.text}`);
  return link;
}
