// The passkey script of the login and account pages (served at /assets/passkeys.js; built with
// the console by ../build.ts, with @simplewebauthn/browser inside). The pages work without it:
// their passkey forms stay hidden until this finds WebAuthn in the browser.
//
// Both forms work the same way: ask the server for options (a POST carrying the form's CSRF
// token), run the ceremony in the browser, put its result and the server's signed `state` in the
// form's hidden fields, and submit the form as any other; the server answers with a page or a
// redirect, exactly as for the password form.
//
// On the login page it also starts a conditional request as the page loads (WebAuthn's
// `mediation: 'conditional'`, when the browser has it): the passkeys for this server are offered
// in the username field's autofill (`autocomplete="username webauthn"`), and choosing one signs in
// username-less through the same form. Pressing the button aborts that request for a modal one.
import { browserSupportsWebAuthn, browserSupportsWebAuthnAutofill, startAuthentication, startRegistration, WebAuthnError } from '@simplewebauthn/browser';

type Ceremony = (options: unknown) => Promise<unknown>;

const ceremonies: Record<string, Ceremony> = {
  'sign-in': (optionsJSON) => startAuthentication({ optionsJSON: optionsJSON as Parameters<typeof startAuthentication>[0]['optionsJSON'] }),
  enrol: (optionsJSON) => startRegistration({ optionsJSON: optionsJSON as Parameters<typeof startRegistration>[0]['optionsJSON'] }),
};

function showError(form: HTMLFormElement, message: string): void {
  const error = form.querySelector<HTMLElement>('[data-passkey-error]');
  if (!error) return;
  error.textContent = message;
  error.hidden = false;
}

/** What went wrong, in words for the person (a cancelled prompt is not an error worth a name). */
function problem(error: unknown): string {
  if (error instanceof WebAuthnError && error.name === 'InvalidStateError') return 'This passkey is registered already.';
  if (error instanceof Error && (error.name === 'NotAllowedError' || error.name === 'AbortError')) return 'The passkey prompt was closed or timed out. Try again.';
  return 'Your browser could not use a passkey. Try again, or sign in another way.';
}

async function run(form: HTMLFormElement, ceremony: Ceremony): Promise<void> {
  const button = form.querySelector<HTMLButtonElement>('button[type=submit]');
  if (button) button.disabled = true;
  try {
    await ceremonyThenSubmit(form, ceremony, (error) => showError(form, problem(error)));
  } finally {
    if (button) button.disabled = false;
  }
}

/** Options from the server, the ceremony, its result in the form, the form submitted. */
async function ceremonyThenSubmit(form: HTMLFormElement, ceremony: Ceremony, failed: (error: unknown) => void, extra: Record<string, string> = {}): Promise<void> {
  try {
    // Everything the form holds except the ceremony's own fields: the CSRF token, and on the
    // account page the password that confirms it is the user.
    const body = new URLSearchParams(extra);
    for (const [name, value] of new FormData(form)) if (name !== 'response' && name !== 'state' && typeof value === 'string') body.append(name, value);
    const answer = await fetch(form.dataset.options!, { method: 'POST', body, credentials: 'same-origin' });
    const json = (await answer.json()) as { options?: unknown; state?: string; error?: string };
    if (!answer.ok || json.options === undefined || json.state === undefined) {
      showError(form, json.error ?? 'The server could not start a passkey ceremony. Reload the page and try again.');
      return;
    }
    let result: unknown;
    try {
      result = await ceremony(json.options);
    } catch (error) {
      failed(error);
      return;
    }
    form.querySelector<HTMLInputElement>('input[name=response]')!.value = JSON.stringify(result);
    form.querySelector<HTMLInputElement>('input[name=state]')!.value = json.state;
    form.submit();
  } catch {
    showError(form, 'The server could not be reached. Try again.');
  }
}

/**
 * The login page's conditional request: pending from the page's load until a passkey is chosen
 * in the username field's autofill (then the sign-in form is submitted with it) or the button
 * starts a modal ceremony (which aborts this one: nothing to say then).
 */
async function offerInAutofill(form: HTMLFormElement): Promise<void> {
  if (!document.querySelector('input[autocomplete~=webauthn]') || !(await browserSupportsWebAuthnAutofill())) return;
  const autofill: Ceremony = (optionsJSON) =>
    startAuthentication({ optionsJSON: optionsJSON as Parameters<typeof startAuthentication>[0]['optionsJSON'], useBrowserAutofill: true });
  await ceremonyThenSubmit(
    form,
    autofill,
    (error) => {
      // Aborted by the button, or timed out without anyone touching it: nothing to say.
      if (!(error instanceof Error && (error.name === 'AbortError' || error.name === 'NotAllowedError'))) showError(form, problem(error));
    },
    { mediation: 'conditional' },
  );
}

for (const form of document.querySelectorAll<HTMLFormElement>('form[data-passkey]')) {
  const ceremony = ceremonies[form.dataset.passkey ?? ''];
  if (!ceremony || !browserSupportsWebAuthn()) continue;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run(form, ceremony);
  });
  form.hidden = false;
  if (form.dataset.passkey === 'sign-in') void offerInAutofill(form);
}
