/**
 * Model output as Markdown, sanitized: the model (or whatever it read on a screen) must never
 * inject HTML or script into Keel's page, which holds a session that can type into shells.
 */
import DOMPurify from 'dompurify';
import { marked } from 'marked';

/**
 * Tags dropped even though DOMPurify would allow them: images and media would load attacker URLs
 * (a Markdown image is a classic way to exfiltrate what the agent read), forms and inputs could
 * phish, and styles could dress text up as Keel's own UI.
 */
const FORBID_TAGS = ['img', 'picture', 'source', 'video', 'audio', 'iframe', 'object', 'embed', 'form', 'input', 'button', 'select', 'textarea', 'style', 'link', 'meta', 'svg', 'math'];
const FORBID_ATTR = ['style', 'class', 'id', 'srcset'];

let hooked = false;
function hookLinks(): void {
  if (hooked) return;
  hooked = true;
  // Links open in a new tab without access to this one (window.opener).
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A') {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  });
}

/** Markdown source → safe HTML string. */
export function renderMarkdown(src: string): string {
  hookLinks();
  const html = marked.parse(src, { async: false, gfm: true, breaks: true });
  return DOMPurify.sanitize(html, { FORBID_TAGS, FORBID_ATTR, ALLOW_DATA_ATTR: false });
}
