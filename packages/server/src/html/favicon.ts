// The brand's icon at /favicon.ico, where browsers (and Swagger UI's pages) look for it: the
// first letter of the brand name on its accent colour, as SVG (every current browser takes an
// SVG favicon; it needs no image file and scales to any size).
import { escape } from './escape.ts';
import type { Brand } from './layout.ts';

export const FAVICON_PATH = '/favicon.ico';

export function faviconSvg(brand: Brand): string {
  const letter = escape([...brand.name.trim()][0]?.toUpperCase() ?? 'G');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="${escape(brand.color)}"/><text x="16" y="23" font-family="system-ui, sans-serif" font-size="20" font-weight="700" text-anchor="middle" fill="#fff">${letter}</text></svg>`;
}
