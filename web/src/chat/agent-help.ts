/**
 * The server's "how to configure a model" text (src/agent/provider.ts configHelp, also the
 * `agent_not_configured` message) as formatted text: its indented lines become a list, options and
 * variables become code. The text stays the server's, so the page never drifts from the options.
 * The split is pure (tested under Node); rendering builds nodes (never HTML from a string).
 */
import { h } from '../dom.ts';

export interface HelpPart {
  text: string;
  code?: boolean;
  strong?: boolean;
}
export interface HelpBlock {
  list: boolean;
  parts: HelpPart[];
}

/** A run of options with their values (`--agent-provider anthropic --agent-model x`), or a variable name. */
const CODE = /--[a-z][a-z0-9-]*(?: (?!--)[^\s,;()]+)?(?: --[a-z][a-z0-9-]*(?: (?!--)[^\s,;()]+)?)*|\b(?:KEEL|OPENAI|ANTHROPIC)_[A-Z0-9_]+\b/g;

function inline(text: string): HelpPart[] {
  const parts: HelpPart[] = [];
  let at = 0;
  for (const m of text.matchAll(CODE)) {
    if (m.index > at) parts.push({ text: text.slice(at, m.index) });
    parts.push({ text: m[0], code: true });
    at = m.index + m[0].length;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  return parts;
}

export function helpBlocks(help: string): HelpBlock[] {
  const blocks: HelpBlock[] = [];
  for (const raw of help.split('\n')) {
    if (!raw.trim()) continue;
    const list = /^\s+/.test(raw);
    const line = raw.trim().replace(/;$/, '');
    // "Anthropic: --agent-provider …": the label in bold.
    const label = list ? /^([^:]{1,60}):\s/.exec(line) : null;
    const parts = label ? [{ text: label[1]!, strong: true }, ...inline(line.slice(label[1]!.length))] : inline(line);
    blocks.push({ list, parts });
  }
  return blocks;
}

export function renderHelp(help: string): HTMLElement {
  const out = h('div', { class: 'agent-help' });
  let ul: HTMLElement | undefined;
  for (const b of helpBlocks(help)) {
    const nodes = b.parts.map((p) => (p.code ? h('code', {}, p.text) : p.strong ? h('strong', {}, p.text) : p.text));
    if (b.list) {
      ul ??= out.appendChild(h('ul', {}));
      ul.append(h('li', {}, ...nodes));
    } else {
      ul = undefined;
      out.append(h('p', {}, ...nodes));
    }
  }
  return out;
}
