// Email: through SMTP (nodemailer) when GATEHOUSE_SMTP_URL is set, else written to the log so a
// developer can follow the links (the server warns at start that this is for development only).
// Sending never blocks a page: pages answer the same whether or not a mail went out, so a slow
// or failing SMTP server reveals nothing about which addresses have accounts.
import nodemailer, { type Transporter } from 'nodemailer';

export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export interface MailLog {
  info(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface Mailer {
  /** Sends in the background; failures are logged (without the message body). */
  send(message: MailMessage): void;
  /** Sends and waits (tests, the CLI). */
  sendNow(message: MailMessage): Promise<void>;
  /** Waits for mails being sent (shutdown). */
  close(): Promise<void>;
}

export interface MailerOptions {
  readonly smtpUrl: string | undefined;
  readonly from: string;
  readonly log: MailLog;
}

export function createMailer({ smtpUrl, from, log }: MailerOptions): Mailer {
  const transport: Transporter | undefined = smtpUrl === undefined ? undefined : nodemailer.createTransport(smtpUrl);
  const inFlight = new Set<Promise<void>>();

  async function sendNow(message: MailMessage): Promise<void> {
    if (transport === undefined) {
      log.info({ mail: { to: message.to, subject: message.subject, text: message.text } }, 'email not sent (GATEHOUSE_SMTP_URL is not set); here it is');
      return;
    }
    await transport.sendMail({ from, to: message.to, subject: message.subject, text: message.text, html: message.html });
  }

  return {
    send(message) {
      const sending = sendNow(message)
        .catch((error: unknown) => log.error({ err: { message: (error as Error).message }, subject: message.subject }, 'sending an email failed'))
        .finally(() => inFlight.delete(sending));
      inFlight.add(sending);
    },
    sendNow,
    async close() {
      await Promise.allSettled([...inFlight]);
      transport?.close();
    },
  };
}
