// The emails the server sends: plain text first (what most security mail should be), with an
// HTML version built from escaped values.
import { html } from '../html/escape.ts';
import type { MailMessage } from './mailer.ts';

export interface Brand {
  readonly name: string;
}

function message(to: string, subject: string, lines: readonly string[], link?: { text: string; url: string }): MailMessage {
  const text = [...lines, ...(link ? ['', `${link.text}:`, link.url] : [])].join('\n');
  const body = html`<div style="font-family:system-ui,sans-serif;max-width:32rem">
${lines.map((line) => (line === '' ? html`<br>` : html`<p>${line}</p>`))}
${link ? html`<p><a href="${link.url}">${link.text}</a></p><p style="color:#5b6270;font-size:.9em">Or copy this address into your browser: ${link.url}</p>` : ''}
</div>`;
  return { to, subject, text, html: body.value };
}

function hours(seconds: number): string {
  return seconds >= 3600 ? `${Math.round(seconds / 3600)} hour(s)` : `${Math.round(seconds / 60)} minutes`;
}

export function verificationMail(brand: Brand, to: string, username: string, url: string, ttlSeconds: number): MailMessage {
  return message(
    to,
    `Verify your email address for ${brand.name}`,
    [`Hello ${username},`, '', `Confirm that this address is yours to finish creating your ${brand.name} account.`, `The link works once and expires in ${hours(ttlSeconds)}.`, '', 'If you did not create an account, ignore this email.'],
    { text: 'Verify my email address', url },
  );
}

/** Someone tried to register with an address that already has an account. */
export function alreadyRegisteredMail(brand: Brand, to: string, username: string, resetUrl: string): MailMessage {
  return message(
    to,
    `Your ${brand.name} account`,
    [`Hello ${username},`, '', `Someone (maybe you) tried to create a ${brand.name} account with this email address, which already has one.`, 'If it was you and you forgot your password, you can choose a new one.', '', 'If it was not you, ignore this email: nothing has changed.'],
    { text: 'Reset my password', url: resetUrl },
  );
}

export function passwordResetMail(brand: Brand, to: string, username: string, url: string, ttlSeconds: number): MailMessage {
  return message(
    to,
    `Reset your ${brand.name} password`,
    [`Hello ${username},`, '', `Someone (hopefully you) asked to reset the password of your ${brand.name} account.`, `The link works once and expires in ${hours(ttlSeconds)}.`, '', 'If you did not ask, ignore this email: your password has not changed.'],
    { text: 'Choose a new password', url },
  );
}

export function passwordChangedMail(brand: Brand, to: string, username: string): MailMessage {
  return message(to, `Your ${brand.name} password was changed`, [
    `Hello ${username},`,
    '',
    `The password of your ${brand.name} account was just changed, and you were signed out everywhere.`,
    'If this was not you, reset your password now and tell your administrator.',
  ]);
}

export function twoFactorChangedMail(brand: Brand, to: string, username: string, enabled: boolean): MailMessage {
  return message(to, `Two-factor authentication ${enabled ? 'enabled' : 'disabled'} on your ${brand.name} account`, [
    `Hello ${username},`,
    '',
    enabled
      ? `Two-factor authentication is now required to sign in to your ${brand.name} account.`
      : `Two-factor authentication was turned off for your ${brand.name} account.`,
    'If this was not you, reset your password now and tell your administrator.',
  ]);
}
