import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conversationTokens, trimConversation, type ChatMessage } from './trim.ts';

/** mulberry32: a small seeded PRNG, so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['ls', 'npm test', 'error:', 'ok', 'the', 'build', 'failed', 'λ', '✓', '日本語', 'src/app.ts', '{"a":1}', '\n', '    '];
/** Text to slice from: mixed ASCII, multi-byte characters, JSON and newlines. */
const CORPUS = (() => {
  const r = prng(42);
  const parts: string[] = [];
  for (let len = 0; len < 250_000; ) {
    const w = WORDS[Math.floor(r() * WORDS.length)]!;
    parts.push(w);
    len += w.length + 1;
  }
  return parts.join(' ');
})();

function gen(seed: number): { ms: ChatMessage[]; lastTurnIds: string[]; budget: number } {
  const r = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const text = (max: number) => {
    const n = r() < 0.1 ? int(0, max * 10) : int(0, max);
    const at = int(0, CORPUS.length - n - 1);
    return CORPUS.slice(at, at + n);
  };
  let n = 0;
  const id = () => `m${++n}`;
  const ms: ChatMessage[] = [];
  let lastTurnIds: string[] = [];
  const turns = int(1, 12);
  for (let t = 0; t < turns; t++) {
    const start = ms.length;
    ms.push({ role: 'user', text: text(1_500) || 'hi', id: id() });
    const steps = int(0, 5);
    for (let s = 0; s < steps; s++) {
      const calls = Array.from({ length: int(1, 3) }, (_, k) => ({ id: `c${n}_${k}`, name: r() < 0.5 ? 'terminal_read' : 'terminal_write', args: r() < 0.2 ? `{"broken": ${text(40)}` : { terminalId: 't_1', text: text(200) } }));
      ms.push({ role: 'assistant', text: r() < 0.5 ? text(600) : '', toolCalls: calls, id: id() });
      ms.push({ role: 'tool', results: calls.map((c) => ({ id: c.id, name: c.name, output: text(r() < 0.3 ? 20_000 : 2_000), isError: r() < 0.1 })), id: id() });
    }
    if (r() < 0.85) ms.push({ role: 'assistant', text: text(1_200) || 'done', toolCalls: [], id: id() });
    lastTurnIds = ms.slice(start).map((m) => m.id!);
  }
  const budget = r() < 0.5 ? int(600, 3_000) : int(3_000, 40_000);
  return { ms, lastTurnIds, budget };
}

function check(seed: number, ms: ChatMessage[], lastTurnIds: string[], budget: number): ChatMessage[] {
  const ctx = `seed ${seed}, budget ${budget}, ${ms.length} messages, ${conversationTokens(ms)} tokens`;
  const res = trimConversation(ms, budget);
  const out = res.messages;
  assert.equal(res.tokens, conversationTokens(out), `token accounting (${ctx})`);
  assert.ok(res.tokens <= budget, `over budget: ${res.tokens} > ${budget} (${ctx})`);

  // The first user message is kept, first.
  assert.equal(out[0]?.id, ms[0]!.id, `first user message kept first (${ctx})`);
  assert.equal(out[0]!.role, 'user');

  const kept = new Set(out.map((m) => m.id).filter(Boolean));
  // The latest turn: its user message and its last message always; all of it when the budget allows.
  assert.ok(kept.has(lastTurnIds[0]!), `last turn's user message kept (${ctx})`);
  assert.ok(kept.has(lastTurnIds.at(-1)!), `last turn's last message kept (${ctx})`);
  if (budget >= 2_500) for (const id of lastTurnIds) assert.ok(kept.has(id), `last turn message ${id} kept (${ctx})`);

  // Order preserved; the gap is marked with the number of messages left out.
  const order = out.filter((m) => m.id).map((m) => Number(m.id!.slice(1)));
  assert.deepEqual(order, [...order].sort((a, b) => a - b), `order kept (${ctx})`);
  const priorGap = ms.reduce((a, m) => a + (m.role === 'user' && m.gap !== undefined ? m.gap : 0), 0);
  const missing = ms.filter((m) => m.id && !kept.has(m.id)).length + priorGap;
  const notes = out.filter((m) => m.role === 'user' && m.gap !== undefined) as { gap: number; text: string }[];
  if (missing > 0) {
    assert.ok(notes.length > 0, `gap marked (${ctx})`);
    assert.equal(notes.reduce((a, n) => a + n.gap, 0), missing, `gap counts (${ctx})`);
    for (const n of notes) assert.match(n.text, /left out/);
  } else assert.equal(notes.length, 0, `no gap note without a gap (${ctx})`);

  // Calls and results stay paired.
  out.forEach((m, i) => {
    if (m.role === 'assistant' && m.toolCalls.length) {
      const next = out[i + 1];
      assert.equal(next?.role, 'tool', `tool message follows calls (${ctx})`);
      if (next?.role === 'tool') assert.deepEqual(next.results.map((x) => x.id), m.toolCalls.map((c) => c.id));
    }
    if (m.role === 'tool') assert.equal(out[i - 1]?.role, 'assistant', `results follow their calls (${ctx})`);
  });
  return out;
}

test('trim: random conversations never exceed the budget, keep the first user message and the last turn, mark the gap', () => {
  let trimmed = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const { ms, lastTurnIds, budget } = gen(seed);
    const out = check(seed, ms, lastTurnIds, budget);
    if (out.length !== ms.length || conversationTokens(out) !== conversationTokens(ms)) trimmed++;
  }
  assert.ok(trimmed > 100, `the generator exercises trimming (${trimmed} of 400 trimmed)`);
});

test('trim: trimming again after a new turn folds the earlier gap note into one', () => {
  for (let seed = 1_000; seed < 1_150; seed++) {
    const { ms, budget } = gen(seed);
    const once = trimConversation(ms, budget).messages;
    const more: ChatMessage[] = [...once, { role: 'user', text: 'and now?', id: 'm9998' }, { role: 'assistant', text: 'answer '.repeat(50), toolCalls: [], id: 'm9999' }];
    const original = [...ms, more.at(-2)!, more.at(-1)!];
    const twice = check(seed, more, ['m9998', 'm9999'], budget);
    const notes = twice.filter((m) => m.role === 'user' && m.gap !== undefined) as { gap: number }[];
    const missing = original.filter((m) => !twice.some((x) => x.id === m.id)).length;
    assert.equal(notes.reduce((a, n) => a + n.gap, 0), missing, `seed ${seed}: gap counts survive a second trim`);
  }
});

test('trim: under budget nothing changes', () => {
  const ms: ChatMessage[] = [
    { role: 'user', text: 'hello', id: 'm1' },
    { role: 'assistant', text: 'hi', toolCalls: [], id: 'm2' },
  ];
  const r = trimConversation(ms, 1_000);
  assert.deepEqual(r.messages, ms);
  assert.equal(r.dropped, 0);
});

test('trim: tool outputs of earlier turns are shortened before any turn is dropped', () => {
  const big = 'x'.repeat(40_000);
  const ms: ChatMessage[] = [
    { role: 'user', text: 'first', id: 'm1' },
    { role: 'assistant', text: '', toolCalls: [{ id: 'c1', name: 'terminal_read', args: {} }], id: 'm2' },
    { role: 'tool', results: [{ id: 'c1', name: 'terminal_read', output: big, isError: false }], id: 'm3' },
    { role: 'assistant', text: 'read it', toolCalls: [], id: 'm4' },
    { role: 'user', text: 'second', id: 'm5' },
    { role: 'assistant', text: 'ok', toolCalls: [], id: 'm6' },
  ];
  const r = trimConversation(ms, 2_000);
  assert.deepEqual(r.messages.map((m) => m.id), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
  const tool = r.messages[2] as Extract<ChatMessage, { role: 'tool' }>;
  assert.match(tool.results[0]!.output, /left out to fit the context/);
  assert.equal(r.dropped, 0);
  assert.equal(r.shortened, 1);
});

test('trim: a latest turn larger than the budget keeps its user message and last step, shortened', () => {
  const steps: ChatMessage[] = [];
  for (let i = 0; i < 40; i++) {
    steps.push({ role: 'assistant', text: 'step '.repeat(100), toolCalls: [{ id: `c${i}`, name: 'terminal_write', args: { terminalId: 't', text: 'y'.repeat(3_000) } }], id: `a${i}` });
    steps.push({ role: 'tool', results: [{ id: `c${i}`, name: 'terminal_write', output: 'z'.repeat(5_000), isError: false }], id: `r${i}` });
  }
  const ms: ChatMessage[] = [{ role: 'user', text: 'u'.repeat(50_000), id: 'first' }, ...steps, { role: 'assistant', text: 'final '.repeat(5_000), toolCalls: [], id: 'final' }];
  const r = trimConversation(ms, 1_000);
  assert.ok(r.tokens <= 1_000, `${r.tokens}`);
  assert.equal(r.messages[0]!.id, 'first');
  assert.equal(r.messages.at(-1)!.id, 'final');
  assert.ok(r.messages.some((m) => m.role === 'user' && m.gap !== undefined));
});
