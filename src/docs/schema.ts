/**
 * What a Keel document may hold, checked on every client update before Yjs applies it: one root
 * Y.Text named `content` holding text. That is all the editor writes (y-codemirror.next's ySync
 * only calls `ytext.insert(index, string)` and `ytext.delete`; its undo manager, awareness and
 * cursors live outside the shared state), so refusing everything else costs honest clients nothing
 * and removes the shapes Yjs handles in more than linear time: nested types (every change walks up
 * all its ancestors, once per changed type, so a 20,000-deep chain of maps and one 64 KB update
 * touching its deepest maps took 30 s and 1 GB; 40,000 levels ran out of memory), map keys,
 * embeds, formatting and subdocuments. Pure functions over Yjs' own decoder, run in the document
 * worker; the time Yjs takes to integrate what passes is bounded there too (doc-engine.ts).
 */
import * as Y from 'yjs';

/** The shared text every editor binds to (`ydoc.getText('content')`): Markdown source. */
export const CONTENT_NAME = 'content';

export type SchemaRefusal = { reason: 'unsupported_content' | 'too_many_structs'; message: string };

const ONLY_TEXT = `Keel documents hold only the text "${CONTENT_NAME}" (Y.Text, as the editor writes it)`;

/** Deleted parts looked up in a non-conforming document for one update (origins are at most 2 per struct). */
const MAX_LEGACY_LOOKUPS = 200_000;

/** What a content kind is, in the user's words, for refusal messages. */
function describe(content: Y.Item["content"]): string {
  if (content instanceof Y.ContentType) return `a nested ${content.type.constructor.name.replace(/^Y/, 'Y.')}`;
  if (content instanceof Y.ContentFormat) return 'text formatting';
  if (content instanceof Y.ContentEmbed) return 'an embed';
  if (content instanceof Y.ContentDoc) return 'a subdocument';
  if (content instanceof Y.ContentBinary) return 'binary data';
  return 'JSON values';
}

/**
 * Whether every item of `doc` lives directly in the root text (a document written only through
 * this check always does). A document stored before updates were checked may not: then updates are
 * also checked for what they refer to (`checkUpdate`'s `legacy`).
 */
export function conforms(doc: Y.Doc): boolean {
  const text = doc.getText(CONTENT_NAME);
  for (const structs of doc.store.clients.values()) {
    for (const s of structs) if (s instanceof Y.Item && (s.parent !== text || s.parentSub !== null)) return false;
  }
  return true;
}

/**
 * Refuses an update that would put anything but text into `doc`, or that carries more than
 * `maxStructs` structs. Throws (Yjs' decoder does) when the update does not decode.
 *
 * Why checking each struct alone is enough: an item either names its parent (then it must be the
 * root text) or inherits its origin's parent; origins are items of the document, which all live in
 * the root text when it conforms, or items of this or an earlier update, which were checked the
 * same way. With `legacy` (a non-conforming document) origins and deletions are looked up too.
 */
export function checkUpdate(doc: Y.Doc, update: Uint8Array, maxStructs: number, legacy: boolean): SchemaRefusal | undefined {
  const { structs, ds } = Y.decodeUpdate(update);
  if (structs.length > maxStructs) {
    return { reason: 'too_many_structs', message: `This update carries ${structs.length} changes; at most ${maxStructs} are accepted in one update (option --max-doc-update-structs). It was not applied; send it in smaller parts.` };
  }
  const text = doc.getText(CONTENT_NAME);
  let lookups = 0;
  const outsideText = (id: Y.ID | null): boolean => {
    if (!id || id.clock >= Y.getState(doc.store, id.client)) return false; // not in the document: checked where it comes from
    lookups++;
    const ref = Y.getItem(doc.store, id);
    return ref instanceof Y.Item && (ref.parent !== text || ref.parentSub !== null);
  };
  for (const s of structs) {
    if (!(s instanceof Y.Item)) continue; // GC and Skip structs carry nothing
    if (!(s.content instanceof Y.ContentString || s.content instanceof Y.ContentDeleted)) {
      return { reason: 'unsupported_content', message: `${ONLY_TEXT}; this update carries ${describe(s.content)}. It was not applied.` };
    }
    const parent = s.parent as unknown;
    if (parent !== null && (parent !== CONTENT_NAME || s.parentSub !== null)) {
      const where = typeof parent === 'string' ? (parent === CONTENT_NAME ? `a key of "${CONTENT_NAME}"` : `a root type named ${JSON.stringify(parent.slice(0, 40))}`) : 'a nested type';
      return { reason: 'unsupported_content', message: `${ONLY_TEXT}; this update writes into ${where}. It was not applied.` };
    }
    if (legacy && (outsideText(s.origin) || outsideText(s.rightOrigin))) {
      return { reason: 'unsupported_content', message: `${ONLY_TEXT}; this update writes next to content outside it (stored before updates were checked). It was not applied.` };
    }
  }
  if (legacy) {
    // Deleting an item of a nested type deletes its subtree recursively: only text may be deleted.
    for (const [client, deletes] of ds.clients) {
      const own = doc.store.clients.get(client);
      if (!own) continue;
      const end = Y.getState(doc.store, client);
      for (const d of deletes) {
        if (d.clock >= end) continue;
        for (let i = Y.findIndexSS(own, d.clock); i < own.length && own[i]!.id.clock < d.clock + d.len; i++) {
          const s = own[i]!;
          if (s instanceof Y.Item && (s.parent !== text || s.parentSub !== null)) {
            return { reason: 'unsupported_content', message: `${ONLY_TEXT}; this update deletes content outside it (stored before updates were checked). It was not applied.` };
          }
          if (++lookups > MAX_LEGACY_LOOKUPS) {
            return { reason: 'too_many_structs', message: `This update deletes more than ${MAX_LEGACY_LOOKUPS} parts of a document stored before updates were checked. It was not applied; delete in smaller parts.` };
          }
        }
      }
    }
  }
  return undefined;
}
