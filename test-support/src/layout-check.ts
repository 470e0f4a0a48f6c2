// What a person would see as broken on a page, measured in the browser: text clipped by its box,
// a word (a code, a link) wrapped in the middle, and text drawn over other text. Browser tests
// run it on every page they screenshot, at every width.
import type { Page } from 'playwright-core';

/** Each problem found on the page, described with the text involved (empty when the page is right). */
export function textLayoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const label = (text: string) => JSON.stringify(text.trim().slice(0, 40));
    const visible = (element: Element) => {
      const style = getComputedStyle(element);
      return style.visibility !== 'hidden' && style.display !== 'none' && (element as HTMLElement).offsetParent !== null;
    };
    const textNodes: Text[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || !node.textContent?.trim() || ['SCRIPT', 'STYLE', 'TITLE', 'NOSCRIPT', 'OPTION'].includes(parent.tagName)) continue;
      if (visible(parent)) textNodes.push(node as Text);
    }

    // Clipped: the text's box is narrower than its content and hides the rest.
    for (const node of textNodes) {
      const box = node.parentElement!;
      const style = getComputedStyle(box);
      if (style.overflowX !== 'visible' && box.scrollWidth > box.clientWidth + 1) problems.push(`clipped text ${label(box.textContent ?? '')}`);
    }

    // A word wrapped in the middle: one run without spaces laid out on two lines.
    const range = document.createRange();
    for (const node of textNodes) {
      const text = node.textContent!;
      for (const match of text.matchAll(/\S{2,}/g)) {
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (tops.size > 1) problems.push(`${label(match[0])} is wrapped in the middle`);
      }
    }

    // Overlap: the line boxes of two different texts cross (more than a pixel of rounding).
    const boxes = textNodes.flatMap((node) => {
      range.selectNodeContents(node);
      return [...range.getClientRects()].filter((r) => r.width > 0 && r.height > 0).map((rect) => ({ node, rect }));
    });
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        if (a.node === b.node) continue;
        const x = Math.min(a.rect.right, b.rect.right) - Math.max(a.rect.left, b.rect.left);
        const y = Math.min(a.rect.bottom, b.rect.bottom) - Math.max(a.rect.top, b.rect.top);
        if (x > 1 && y > 1) problems.push(`${label(a.node.textContent!)} overlaps ${label(b.node.textContent!)}`);
      }
    }
    return [...new Set(problems)];
  });
}
