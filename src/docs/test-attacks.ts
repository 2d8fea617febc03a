/**
 * Crafted Yjs updates for the hostile-document tests: valid encodings that no honest editor sends,
 * written struct by struct with Yjs' own encoder (building them through a Y.Doc would itself take
 * minutes, for the very reason they are attacks).
 */
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';

/** One client's run of structs, written as Yjs' V1 update format does (`writeStructs`). */
function update(runs: { client: number; clock: number; items: Y.Item[] }[]): Uint8Array {
  const e = new Y.UpdateEncoderV1();
  encoding.writeVarUint(e.restEncoder, runs.length);
  for (const r of runs) {
    encoding.writeVarUint(e.restEncoder, r.items.length);
    e.writeClient(r.client);
    encoding.writeVarUint(e.restEncoder, r.clock);
    for (const it of r.items) it.write(e, 0);
  }
  encoding.writeVarUint(e.restEncoder, 0); // an empty delete set
  return e.toUint8Array();
}

const item = (client: number, clock: number, parent: string | Y.ID | null, parentSub: string | null, content: Y.Item["content"], origin: Y.ID | null = null, rightOrigin: Y.ID | null = null) =>
  // The constructor types `parent` as a type; encoded updates carry a root name or an item id there.
  new Y.Item(Y.createID(client, clock), null, origin, null, rightOrigin, parent as any, parentSub, content);

/**
 * Structs `from`..`to`-1 of a chain of nested Y.Maps: map `i` is key "k" of map `i - 1`, map 0 is
 * key "k" of the root map "root". About 8 bytes per level (20,000 levels: 163 KB).
 */
export function nestedMapChain(from: number, to: number, client = 7): Uint8Array {
  const items: Y.Item[] = [];
  for (let i = from; i < to; i++) items.push(item(client, i, i === 0 ? 'root' : Y.createID(client, i - 1), 'k', new Y.ContentType(new Y.Map())));
  return update([{ client, clock: from, items }]);
}

/** One update setting key "x" on each of the deepest maps of a chain of `depth`, as many as fit in `bytes`. */
export function touchDeepestMaps(depth: number, bytes: number, chainClient = 7, client = 8): Uint8Array {
  const build = (n: number) => {
    const items: Y.Item[] = [];
    for (let i = depth - 1; i >= 0 && items.length < n; i--) items.push(item(client, items.length, Y.createID(chainClient, i), 'x', new Y.ContentAny([1])));
    return update([{ client, clock: 0, items }]);
  };
  let lo = 1;
  let hi = depth;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (build(mid).byteLength <= bytes) lo = mid;
    else hi = mid - 1;
  }
  return build(lo);
}

/**
 * `n` one-character inserts from `n` different clients (ids `firstClient`…), all concurrent at the
 * same place: between `origin` and `rightOrigin`. Text only, so it passes any schema check; Yjs
 * resolves each against every concurrent insert already there (its integration loop), so rounds of
 * these cost quadratic time.
 */
export function concurrentInserts(origin: Y.ID, rightOrigin: Y.ID, firstClient: number, n: number): Uint8Array {
  const runs = [];
  for (let c = firstClient; c < firstClient + n; c++) runs.push({ client: c, clock: 0, items: [item(c, 0, null, null, new Y.ContentString('x'), origin, rightOrigin)] });
  return update(runs);
}

/** A text insert with an explicit parent: the root type `root` (any name) or a nested type's item id. */
export function textInto(parent: string | Y.ID, text: string, client = 9, clock = 0, parentSub: string | null = null): Uint8Array {
  return update([{ client, clock, items: [item(client, clock, parent, parentSub, new Y.ContentString(text))] }]);
}

/** An update carrying one struct of `content` in the root text "content". */
export function contentInto(content: Y.Item["content"], client = 10): Uint8Array {
  return update([{ client, clock: 0, items: [item(client, 0, 'content', null, content)] }]);
}
