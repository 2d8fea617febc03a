/**
 * Cuts a conversation to a token budget before it is sent to the model. Pure: no I/O, no clock.
 *
 * Tokens are estimated, not counted: 1 token ≈ 4 bytes of UTF-8 (close for English prose and code
 * with GPT and Claude tokenizers, conservative for most other scripts), plus a fixed overhead per
 * message and per tool call. Leave headroom in the budget for the estimate's error.
 *
 * In order, until the conversation fits:
 *   1. tool outputs of earlier turns are shortened (oldest first) to a head and tail with a marker;
 *   2. whole earlier turns are left out (oldest first), the first user message excepted, and a
 *      short note takes their place saying how many messages are missing;
 *   3. only if the first user message and the latest turn alone are over the budget: the latest
 *      turn's tool outputs, then its longest texts are shortened (head and tail kept, marked);
 *   4. last resort (a budget smaller than the latest turn's bare structure): the latest turn's
 *      oldest tool steps are left out too, its user message and last step kept.
 * A turn is a user message and every assistant and tool message after it, so a tool call and its
 * result are always kept or dropped together.
 */

export interface ToolCallItem {
  id: string;
  name: string;
  args: unknown;
}

export interface ToolResultItem {
  id: string;
  name: string;
  output: string;
  isError: boolean;
}

export type ChatMessage =
  | { role: 'user'; text: string; id?: string; /** A gap note inserted by trim, with the number of messages it stands for. */ gap?: number }
  | { role: 'assistant'; text: string; toolCalls: ToolCallItem[]; id?: string }
  | { role: 'tool'; results: ToolResultItem[]; id?: string };

/** Bytes of UTF-8 per estimated token. */
export const BYTES_PER_TOKEN = 4;
/** Estimated tokens of a message's framing (role, separators). */
export const MESSAGE_OVERHEAD_TOKENS = 4;
/** Estimated tokens of a tool call's or result's framing (id, name, type). */
export const TOOL_ITEM_OVERHEAD_TOKENS = 8;
/** What a shortened tool output of an earlier turn keeps, in characters, head and tail together. */
export const SHORT_OUTPUT_CHARS = 400;
/** The least a shortened text keeps, in characters, head and tail together. */
const MIN_KEEP_CHARS = 64;

export function estimateTokens(s: string): number {
  return s ? Math.ceil(Buffer.byteLength(s) / BYTES_PER_TOKEN) : 0;
}

/** Estimates by message: messages are never mutated (trim replaces them), so an estimate stays true. */
const estimates = new WeakMap<ChatMessage, number>();

export function messageTokens(m: ChatMessage): number {
  let t = estimates.get(m);
  if (t === undefined) {
    t = estimateMessage(m);
    estimates.set(m, t);
  }
  return t;
}

function estimateMessage(m: ChatMessage): number {
  let t = MESSAGE_OVERHEAD_TOKENS;
  if (m.role === 'tool') {
    for (const r of m.results) t += TOOL_ITEM_OVERHEAD_TOKENS + estimateTokens(r.output);
    return t;
  }
  t += estimateTokens(m.text);
  if (m.role === 'assistant') for (const c of m.toolCalls) t += TOOL_ITEM_OVERHEAD_TOKENS + estimateTokens(c.name) + estimateTokens(argsText(c.args));
  return t;
}

export function conversationTokens(ms: readonly ChatMessage[]): number {
  let t = 0;
  for (const m of ms) t += messageTokens(m);
  return t;
}

export function argsText(args: unknown): string {
  if (typeof args === 'string') return args;
  try {
    return JSON.stringify(args) ?? '';
  } catch {
    return '';
  }
}

/** Shortens `s` to about `keep` characters: head and tail, with a marker saying how much is left out. */
export function shorten(s: string, keep: number, what = 'characters'): string {
  if (s.length <= keep) return s;
  const head = Math.ceil(keep / 2);
  const tail = Math.max(0, keep - head);
  return `${s.slice(0, head)}\n[… ${s.length - head - tail} ${what} left out to fit the context …]\n${tail ? s.slice(s.length - tail) : ''}`;
}

export function gapNote(dropped: number): ChatMessage {
  return {
    role: 'user',
    gap: dropped,
    text: `[Keel: ${dropped} earlier message${dropped === 1 ? ' was' : 's were'} left out here to fit the model's context budget. The full conversation is kept in Keel's history.]`,
  };
}

export interface TrimResult {
  messages: ChatMessage[];
  /** Estimated tokens of `messages`. */
  tokens: number;
  /** Messages left out (gap notes not counted). */
  dropped: number;
  /** Texts and tool outputs shortened. */
  shortened: number;
}

export function trimConversation(input: readonly ChatMessage[], budgetTokens: number): TrimResult {
  let total = conversationTokens(input);
  if (total <= budgetTokens) return { messages: [...input], tokens: total, dropped: 0, shortened: 0 };

  // Earlier gap notes are folded into the new one, at the place of the first.
  let priorGap = 0;
  let priorNoteBefore = -1;
  const ms: ChatMessage[] = [];
  for (const m of input) {
    if (m.role === 'user' && m.gap !== undefined) {
      if (priorNoteBefore === -1) priorNoteBefore = ms.length;
      priorGap += m.gap;
    } else ms.push(m);
  }
  total = conversationTokens(ms);
  let shortened = 0;

  const first = ms.findIndex((m) => m.role === 'user');
  let last = -1;
  for (let i = ms.length - 1; i >= 0 && last === -1; i--) if (ms[i]!.role === 'user') last = i;
  // No user message at all: everything is "the latest turn".
  const lastStart = last === -1 ? 0 : last;
  const headEnd = first === -1 || first === lastStart ? 0 : first + 1;

  // Units that may go, oldest first: messages before the first user message (orphans of a retention
  // cut), then the first turn's answers, then each later turn before the latest. Each is whole turns
  // or answers, so calls and results stay paired.
  const units: [number, number][] = [];
  if (first > 0 && first !== lastStart) units.push([0, first]);
  for (let i = headEnd; i < lastStart; ) {
    let j = i + 1;
    while (j < lastStart && ms[j]!.role !== 'user') j++;
    units.push([i, j]);
    i = j;
  }

  const noteCost = (n: number) => (n > 0 ? messageTokens(gapNote(n)) : 0);
  const fits = (dropped: number) => total + noteCost(dropped + priorGap) <= budgetTokens;
  const shortenOutputs = (list: ChatMessage[], i: number) => {
    const m = list[i]!;
    if (m.role !== 'tool') return;
    const before = messageTokens(m);
    const results = m.results.map((r) => (r.output.length > SHORT_OUTPUT_CHARS ? (shortened++, { ...r, output: shorten(r.output, SHORT_OUTPUT_CHARS, 'characters of tool output') }) : r));
    list[i] = { ...m, results };
    total += messageTokens(list[i]!) - before;
  };

  // 1. Shorten tool outputs in the units, oldest first.
  for (const [a, b] of units) for (let i = a; i < b && !fits(0); i++) shortenOutputs(ms, i);

  // 2. Drop units, oldest first.
  let dropped = 0;
  const drop = new Set<number>();
  for (const [a, b] of units) {
    if (fits(dropped)) break;
    for (let i = a; i < b; i++) {
      drop.add(i);
      total -= messageTokens(ms[i]!);
      dropped++;
    }
  }
  const gap = dropped + priorGap;
  const out: ChatMessage[] = [];
  let noteAt = -1;
  let lastOut = 0;
  for (let i = 0; i < ms.length; i++) {
    if (noteAt === -1 && gap > 0 && (drop.has(i) || i === priorNoteBefore || i === lastStart)) {
      noteAt = out.length;
      out.push(gapNote(gap));
      total += messageTokens(out[noteAt]!);
    }
    if (i === lastStart) lastOut = out.length;
    if (!drop.has(i)) out.push(ms[i]!);
  }

  if (total > budgetTokens) {
    // 3a. The first user message and the latest turn are over the budget on their own: the latest
    // turn's tool outputs, oldest first.
    for (let i = lastOut; i < out.length && total > budgetTokens; i++) shortenOutputs(out, i);
    // 3b. The longest remaining texts (any message), each cut by what is still over, down to a minimum.
    for (let round = 0; total > budgetTokens && round < 1_000; round++) {
      const f = longestField(out);
      if (!f || f.length <= MIN_KEEP_CHARS + 80) break;
      const overChars = (total - budgetTokens) * BYTES_PER_TOKEN;
      const keep = Math.max(MIN_KEEP_CHARS, f.length - overChars - 120);
      const before = messageTokens(out[f.index]!);
      const next = f.replace(shorten(f.value, keep));
      const after = messageTokens(next);
      if (after >= before) break; // no progress (escaping grew it): leave it to step 4
      out[f.index] = next;
      shortened++;
      total += after - before;
    }
    // 4. Leave out the latest turn's oldest steps (an assistant message and its tool results); its
    // user message and last assistant message stay.
    const stepsFrom = out[lastOut]?.role === 'user' ? lastOut + 1 : lastOut;
    while (total > budgetTokens) {
      const hasNote = out[stepsFrom]?.role === 'user' && (out[stepsFrom] as { gap?: number }).gap !== undefined;
      const e = hasNote ? stepsFrom + 1 : stepsFrom;
      let lastAssistant = -1;
      for (let i = out.length - 1; i >= e && lastAssistant === -1; i--) if (out[i]!.role === 'assistant') lastAssistant = i;
      if (out[e]?.role !== 'assistant' || e >= lastAssistant) break;
      let end = e + 1;
      while (end < out.length && out[end]!.role === 'tool') end++;
      const removed = out.splice(e, end - e);
      for (const m of removed) total -= messageTokens(m);
      dropped += removed.length;
      const prev = hasNote ? (out[stepsFrom] as { gap: number }).gap : 0;
      if (hasNote) total -= messageTokens(out[stepsFrom]!);
      out.splice(stepsFrom, hasNote ? 1 : 0, gapNote(prev + removed.length));
      total += messageTokens(out[stepsFrom]!);
    }
  }
  return { messages: out, tokens: total, dropped, shortened };
}

interface Field {
  index: number;
  value: string;
  length: number;
  replace(v: string): ChatMessage;
}

/** The longest shortenable string in the conversation: a text, a tool output or a call's arguments. */
function longestField(ms: ChatMessage[]): Field | undefined {
  let best: Field | undefined;
  const consider = (f: Field) => {
    if (!best || f.length > best.length) best = f;
  };
  ms.forEach((m, index) => {
    if (m.role === 'user') {
      if (m.gap === undefined) consider({ index, value: m.text, length: m.text.length, replace: (v) => ({ ...m, text: v }) });
    } else if (m.role === 'assistant') {
      consider({ index, value: m.text, length: m.text.length, replace: (v) => ({ ...m, text: v }) });
      m.toolCalls.forEach((c, k) => {
        const a = argsText(c.args);
        consider({ index, value: a, length: a.length, replace: (v) => ({ ...m, toolCalls: m.toolCalls.map((x, j) => (j === k ? { ...x, args: { truncated_arguments: v } } : x)) }) });
      });
    } else {
      m.results.forEach((r, k) => consider({ index, value: r.output, length: r.output.length, replace: (v) => ({ ...m, results: m.results.map((x, j) => (j === k ? { ...x, output: v } : x)) }) }));
    }
  });
  return best;
}
