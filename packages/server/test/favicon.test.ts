// /favicon.ico: the brand's icon, so browsers and the docs pages do not get a 404.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startInProcess } from '@gatehouse/test-support/gatehouse';

test('/favicon.ico is an SVG of the brand: its first letter on its accent colour', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_BRAND_NAME: 'Acme ID', GATEHOUSE_BRAND_COLOR: '#aa3300' });
  const response = await fetch(`${gh.issuer}/favicon.ico`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'image/svg+xml');
  const svg = await response.text();
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /fill="#aa3300"/);
  assert.match(svg, />A<\/text>/);
});
