/**
 * Markdown list continuation without a doubled marker. Enter at the end of "- item" starts the next
 * item with "- " (lang-markdown's insertNewlineContinueMarkup); a writer used to plain editors then
 * types "- " again and got "- - next", which Markdown reads as a list nested in the item, and the
 * next Enter continues that nesting ("  - 1. …"). Typing a list marker right after the marker the
 * editor inserted replaces it instead: the same marker leaves one, another one ("1. " after "- ")
 * switches the kind of list. Only directly after a list item, where the continuation put it: a
 * "- - x" written anywhere else stays as typed.
 */
import { EditorView } from '@codemirror/view';

/** A list item's start: indentation, a marker (bullet or number), an optional task box. */
const ITEM = /^(\s*)(?:[-+*]|\d{1,9}[.)])(?: \[[ xX]\])? /;
/** The line before the cursor once the typed space lands: the continued marker, then a marker typed over it. */
const TYPED_OVER = /^(\s*)(?:[-+*]|\d{1,9}[.)])(?: \[[ xX]\])? ([-+*]|\d{1,9}[.)]) $/;

/**
 * What the line should start with when `before` (the line up to the cursor, the typed space
 * included) is a continued marker followed by a typed one and `previousLine` is a list item;
 * undefined to type as usual.
 */
export function collapseTypedMarker(before: string, previousLine: string | undefined): string | undefined {
  const m = TYPED_OVER.exec(before);
  if (!m || previousLine === undefined || !ITEM.test(previousLine)) return undefined;
  return `${m[1]}${m[2]} `;
}

/** The editor side: on a typed space at the end of such a line, the line's start becomes the one marker. */
export const listMarkerTyping = EditorView.inputHandler.of((view, from, to, text) => {
  if (text !== ' ' || from !== to || view.state.selection.ranges.length !== 1) return false;
  const line = view.state.doc.lineAt(from);
  if (line.to !== to || line.number === 1) return false; // only at the end of the line
  const before = view.state.doc.sliceString(line.from, from) + ' ';
  const start = collapseTypedMarker(before, view.state.doc.line(line.number - 1).text);
  if (start === undefined) return false;
  view.dispatch({ changes: { from: line.from, to, insert: start }, selection: { anchor: line.from + start.length }, userEvent: 'input.type', scrollIntoView: true });
  return true;
});
