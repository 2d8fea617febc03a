// The fake model server itself: the real AI SDK client, non-streaming, and the raw SSE it sends.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, tool } from 'ai';
import { z } from 'zod';
import { FakeModel } from './fake-model/server.ts';

let model: FakeModel;
before(async () => {
  model = await FakeModel.start();
});
after(async () => {
  await model.close();
});

test('non-streaming: text and tool calls reach the AI SDK client, with usage', async () => {
  const provider = createOpenAICompatible({ name: 'fake', baseURL: model.baseUrl, apiKey: 'k' });
  model.enqueue({ text: 'hi there', usage: { prompt: 7, completion: 2 } }, { text: 'calling', toolCalls: [{ name: 'echo', args: { msg: 'x' }, id: 'call_a' }] });
  const r1 = await generateText({ model: provider.chatModel('fake-1'), prompt: 'hello', maxRetries: 0 });
  assert.equal(r1.text, 'hi there');
  assert.equal(r1.usage.inputTokens, 7);
  assert.equal(model.requests.at(-1)!.body.stream, undefined);
  const r2 = await generateText({ model: provider.chatModel('fake-1'), prompt: 'call', tools: { echo: tool({ inputSchema: z.object({ msg: z.string() }) }) }, maxRetries: 0 });
  assert.deepEqual(r2.toolCalls.map((c) => [c.toolCallId, c.toolName, c.input]), [['call_a', 'echo', { msg: 'x' }]]);
  assert.equal(r2.finishReason, 'tool-calls');
});

test('streaming wire format: role chunk, content deltas, tool_calls deltas with split arguments, finish, usage, [DONE]', async () => {
  model.enqueue({ text: 'abcdef', chunks: 2, toolCalls: [{ name: 'echo', args: { msg: 'hello' }, id: 'call_b' }] });
  const res = await fetch(`${model.baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, messages: [] }) });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const lines = (await res.text()).split('\n\n').filter(Boolean);
  assert.equal(lines.at(-1), 'data: [DONE]');
  const chunks = lines.slice(0, -1).map((l) => JSON.parse(l.replace(/^data: /, '')));
  assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
  assert.deepEqual(chunks.slice(1, 3).map((c) => c.choices[0].delta.content), ['abc', 'def']);
  const args = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).map((t: any) => t.function.arguments).join('');
  assert.equal(args, '{"msg":"hello"}');
  assert.equal(chunks.find((c) => c.choices[0]?.delta.tool_calls?.[0]?.id)?.choices[0].delta.tool_calls[0].id, 'call_b');
  assert.equal(chunks.at(-2).choices[0].finish_reason, 'tool_calls');
  assert.equal(chunks.at(-1).usage.total_tokens, 15);
});

test('errors, an empty queue and a throwing script answer with an HTTP error; requests are recorded', async () => {
  model.enqueue({ error: { status: 429, message: 'slow down' } }, () => {
    throw new Error('bad script');
  });
  const post = () => fetch(`${model.baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","messages":[]}' });
  const r1 = await post();
  assert.equal(r1.status, 429);
  assert.equal((await r1.json()).error.message, 'slow down');
  assert.equal((await post()).status, 500);
  assert.deepEqual(model.scriptErrors, ['bad script']);
  const r3 = await post();
  assert.equal(r3.status, 500);
  assert.match((await r3.json()).error.message, /no scripted response/);
  assert.equal(model.requests.at(-1)!.body.model, 'm');
});
