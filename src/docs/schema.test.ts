import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as Y from 'yjs';
import { checkUpdate, conforms, CONTENT_NAME } from './schema.ts';
import { contentInto, nestedMapChain, textInto, touchDeepestMaps } from './test-attacks.ts';

function textDoc(text = 'hello'): Y.Doc {
  const d = new Y.Doc();
  d.getText(CONTENT_NAME).insert(0, text);
  return d;
}

/** An update from a peer of `doc` that makes `edit` on its copy. */
function edit(doc: Y.Doc, fn: (peer: Y.Doc) => void): Uint8Array {
  const peer = new Y.Doc();
  Y.applyUpdate(peer, Y.encodeStateAsUpdate(doc));
  const sv = Y.encodeStateVector(peer);
  fn(peer);
  return Y.encodeStateAsUpdate(peer, sv);
}

describe('documents: update schema', () => {
  it('accepts what the editor sends: inserts, deletes, pastes, a whole state, and an empty update', () => {
    const doc = textDoc('hello world');
    const updates = [
      edit(doc, (p) => p.getText(CONTENT_NAME).insert(5, ',')),
      edit(doc, (p) => p.getText(CONTENT_NAME).delete(0, 6)),
      edit(doc, (p) => p.getText(CONTENT_NAME).insert(0, 'x'.repeat(100_000))),
      Y.encodeStateAsUpdate(textDoc('a fresh client')),
      Y.encodeStateAsUpdate(new Y.Doc()),
    ];
    for (const u of updates) assert.equal(checkUpdate(doc, u, 1000, false), undefined);
    assert.equal(conforms(doc), true);
  });

  it('refuses nested types, map keys, other root types, embeds, formatting, JSON and subdocuments', () => {
    const doc = textDoc();
    const bad: [string, Uint8Array, RegExp][] = [
      ['a nested map chain', nestedMapChain(0, 3), /nested Y\.Map/],
      ['a chain continued by id', nestedMapChain(1, 3), /nested Y\.Map/],
      ['a nested map in the text', contentInto(new Y.ContentType(new Y.Map())), /nested Y\.Map/],
      ['a nested text in the text', contentInto(new Y.ContentType(new Y.Text())), /nested Y\.Text/],
      ['text into another root type', textInto('notes', 'hi'), /root type named "notes"/],
      ['text into a nested type', textInto(Y.createID(7, 0), 'hi'), /nested type/],
      ['a key of the text', textInto(CONTENT_NAME, 'hi', 9, 0, 'bold'), /a key of "content"/],
      ['formatting', edit(doc, (p) => p.getText(CONTENT_NAME).format(0, 2, { bold: true })), /formatting/],
      ['an embed', edit(doc, (p) => p.getText(CONTENT_NAME).insertEmbed(0, { image: 'x' })), /embed/],
      ['JSON values', contentInto(new Y.ContentAny([1, 2])), /JSON/],
      ['a subdocument', edit(doc, (p) => p.getMap('m').set('d', new Y.Doc())), /subdocument/],
    ];
    for (const [what, u, message] of bad) {
      const r = checkUpdate(doc, u, 1000, false);
      assert.equal(r?.reason, 'unsupported_content', what);
      assert.match(r!.message, message, what);
    }
    assert.equal(doc.getText(CONTENT_NAME).toString(), 'hello', 'checking applies nothing');
  });

  it('refuses more than the struct limit in one update', () => {
    const doc = textDoc();
    const many = edit(doc, (p) => {
      const t = p.getText(CONTENT_NAME);
      for (let i = 0; i < 50; i++) t.insert(i % 3, 'ab');
    });
    assert.equal(checkUpdate(doc, many, 1000, false), undefined);
    const r = checkUpdate(doc, many, 10, false);
    assert.equal(r?.reason, 'too_many_structs');
    assert.match(r!.message, /--max-doc-update-structs/);
  });

  it('throws on an update that does not decode', () => {
    assert.throws(() => checkUpdate(textDoc(), Uint8Array.from([5, 200, 1, 2]), 1000, false));
  });

  it('a document stored before the check: found non-conforming, and edits next to or deleting its other content are refused', () => {
    const legacy = textDoc('legacy');
    Y.applyUpdate(legacy, nestedMapChain(0, 50));
    assert.equal(conforms(legacy), false);
    assert.equal(checkUpdate(legacy, touchDeepestMaps(50, 2_000), 1000, true)?.reason, 'unsupported_content');
    // Text, and deletes of text, still pass.
    const typed = edit(legacy, (p) => p.getText(CONTENT_NAME).insert(6, '!'));
    assert.equal(checkUpdate(legacy, typed, 1000, true), undefined);
    assert.equal(checkUpdate(legacy, edit(legacy, (p) => p.getText(CONTENT_NAME).delete(0, 2)), 1000, true), undefined);
    // Deleting the chain would delete every nested map under it, recursively: refused.
    const m = new Y.Doc();
    Y.applyUpdate(m, Y.encodeStateAsUpdate(legacy));
    const sv = Y.encodeStateVector(m);
    m.getMap('root').delete('k');
    assert.equal(checkUpdate(legacy, Y.encodeStateAsUpdate(m, sv), 1000, true)?.reason, 'unsupported_content');
  });
});
