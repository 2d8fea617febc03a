/** Plain text of a (headless) terminal's screen, for readers that want words, not escape codes. */
import type { Terminal } from '@xterm/headless';

/** The visible screen, with up to `scrollbackLines` lines of scrollback above it; trailing blanks trimmed. */
export function screenText(term: Terminal, scrollbackLines = 0): string {
  const buf = term.buffer.active;
  const start = Math.max(0, buf.baseY - Math.max(0, scrollbackLines));
  const end = buf.baseY + term.rows;
  const lines: string[] = [];
  for (let y = start; y < end; y++) lines.push(buf.getLine(y)?.translateToString(true) ?? '');
  while (lines.length && lines.at(-1) === '') lines.pop();
  return lines.join('\n');
}
