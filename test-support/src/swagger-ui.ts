// Checks on Swagger UI pages shared by the browser tests of the items API's /docs and the admin
// API's /admin/docs.
import assert from 'node:assert/strict';
import type { Locator, Page } from 'playwright-core';

/**
 * The open Authorize dialog is at its top, the authorization-code sign-in in sight and focused: not
 * scrolled down to a field further on (Swagger UI autofocuses every credential field, the last one
 * winning, so the dialog used to open at the password flow or the API key).
 */
export async function assertAuthorizeDialogAtTop(page: Page): Promise<void> {
  const dialog = await page.locator('.modal-ux-content').evaluate((content) => ({
    scrollTop: content.scrollTop,
    firstSection: content.querySelector('.auth-container h4')?.textContent ?? '',
    focusInFirstSection: content.querySelector('.auth-container')?.contains(document.activeElement) ?? false,
  }));
  assert.equal(dialog.scrollTop, 0, 'the Authorize dialog opens unscrolled');
  assert.match(dialog.firstSection, /authorizationCode/, 'the first section is the authorization-code flow');
  assert.ok(dialog.focusInFirstSection, 'the focus is in the first section');
}

/** The example body an expanded operation documents for a status, as Swagger UI renders it. */
export async function documentedExample(operation: Locator, status: string): Promise<string | null> {
  const example = operation.locator(`.responses-table tr.response[data-code="${status}"] .highlight-code`).first();
  await example.waitFor();
  return example.textContent();
}
