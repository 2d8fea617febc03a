/**
 * Pure helpers of the browser UI's terminal, chat and documents behaviour (issue 11.9–11.13),
 * tested under Node: the terminal shortcuts, the touch-scroll arithmetic, the agent help's
 * formatting, presence labels and the Markdown marker a user types after a continued list item.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configHelp } from '../../src/agent/provider.ts';
import { helpBlocks } from '../../web/src/chat/agent-help.ts';
import { lockAxis, rowsFor } from '../../web/src/terminals/touch-scroll.ts';
import { shortcutLetter, terminalShortcut, wouldType, type KeyLike } from '../../web/src/terminals/shortcuts.ts';

const key = (k: string, mods: Partial<KeyLike> = {}, code = /^[a-z]$/i.test(k) ? `Key${k.toUpperCase()}` : k): KeyLike => ({ type: 'keydown', key: k, code, ctrlKey: false, shiftKey: false, altKey: false, metaKey: false, ...mods });

describe('terminal shortcuts (VS Code on Linux/Windows)', () => {
  it('Ctrl+C copies only with a selection; Ctrl+Shift+C copies or does nothing; Ctrl+V / Ctrl+Shift+V paste; Ctrl+Shift+M leaves', () => {
    assert.equal(terminalShortcut(key('c', { ctrlKey: true }), true), 'copy');
    assert.equal(terminalShortcut(key('c', { ctrlKey: true }), false), undefined, 'the interrupt goes to the program');
    assert.equal(terminalShortcut(key('C', { ctrlKey: true, shiftKey: true }), true), 'copy');
    assert.equal(terminalShortcut(key('C', { ctrlKey: true, shiftKey: true }), false), 'swallow');
    assert.equal(terminalShortcut(key('v', { ctrlKey: true }), false), 'paste');
    assert.equal(terminalShortcut(key('V', { ctrlKey: true, shiftKey: true }), false), 'paste');
    assert.equal(terminalShortcut(key('M', { ctrlKey: true, shiftKey: true }), false), 'leave');
    assert.equal(terminalShortcut(key('m', { ctrlKey: true }), false), undefined, 'Ctrl+M stays Enter');
    assert.equal(terminalShortcut(key('c', { ctrlKey: true, altKey: true }), true), undefined, 'Ctrl+Alt+C is the program’s');
    assert.equal(terminalShortcut(key('d', { ctrlKey: true }), true), undefined);
    assert.equal(terminalShortcut({ ...key('c', { ctrlKey: true }), type: 'keyup' }, true), undefined, 'only key presses act');
    assert.equal(terminalShortcut(key('c', { metaKey: true }), true, true), 'copy', 'Cmd+C on a Mac');
    assert.equal(terminalShortcut(key('c', { metaKey: true }), true, false), undefined, 'the Windows key is not Ctrl');
  });

  it('reads the letter from the layout when it is Latin, from the key position otherwise', () => {
    assert.equal(shortcutLetter({ key: 'c', code: 'KeyI' }), 'c', 'Dvorak: the C key is where QWERTY has I');
    assert.equal(shortcutLetter({ key: 'с', code: 'KeyC' }), 'c', 'Russian: the Cyrillic es on the C key');
    assert.equal(shortcutLetter({ key: '1', code: 'Digit1' }), '');
  });

  it('knows which keys would type (a read-only viewer is told) and which would not', () => {
    assert.equal(wouldType(key('a')), true);
    assert.equal(wouldType(key('Enter')), true);
    assert.equal(wouldType(key('c', { ctrlKey: true })), true);
    assert.equal(wouldType(key('Shift')), false);
    assert.equal(wouldType(key('PageUp', { shiftKey: true })), false, 'scrolling the scrollback');
    assert.equal(wouldType(key('F5')), false);
    assert.equal(wouldType({ ...key('a'), type: 'keyup' }), false);
  });
});

describe('touch scrolling arithmetic', () => {
  it('picks an axis once past the slop, vertical on a tie', () => {
    assert.equal(lockAxis(3, 4), undefined, 'a tap');
    assert.equal(lockAxis(2, 20), 'y');
    assert.equal(lockAxis(-30, 10), 'x');
    assert.equal(lockAxis(10, -10), 'y');
  });

  it('turns travel into whole rows and carries the rest, so slow drags add up', () => {
    assert.deepEqual(rowsFor(50, 16), { rows: 3, rest: 2 });
    assert.deepEqual(rowsFor(-50, 16), { rows: -3, rest: -2 });
    let carry = 0;
    let rows = 0;
    for (let i = 0; i < 160; i++) {
      const r = rowsFor(carry + 1, 16);
      carry = r.rest;
      rows += r.rows;
    }
    assert.equal(rows, 10, '160 moves of 1 px are 10 rows of 16 px');
    assert.deepEqual(rowsFor(100, 0), { rows: 0, rest: 0 }, 'no layout yet: nothing');
  });
});

describe("the agent's configuration help, formatted", () => {
  it('turns the server’s text into paragraphs and a list, options and variables into code, losing no word', () => {
    const help = configHelp({ agentProvider: 'none', agentBaseUrl: '', agentApiKey: '', agentModel: '' });
    const blocks = helpBlocks(help);
    assert.deepEqual(blocks.map((b) => b.list), [false, true, true, false]);
    const codes = blocks.flatMap((b) => b.parts.filter((p) => p.code).map((p) => p.text));
    assert.ok(codes.includes('--agent-provider anthropic --agent-model claude-sonnet-4-5'), codes.join(' | '));
    assert.ok(codes.includes('ANTHROPIC_API_KEY') && codes.includes('KEEL_AGENT_BASE_URL'));
    assert.equal(blocks[1]!.parts[0]!.strong, true, 'the alternative’s label in bold');
    const words = (t: string) => t.replace(/[;\s]+/g, ' ').trim();
    assert.equal(words(blocks.map((b) => b.parts.map((p) => p.text).join('')).join(' ')), words(help), 'the same text');
    // A partial configuration names what is missing, as code.
    const partial = helpBlocks(configHelp({ agentProvider: 'openai-compatible', agentBaseUrl: '', agentApiKey: '', agentModel: 'm' }));
    assert.ok(partial[0]!.parts.some((p) => p.code && p.text === '--agent-base-url'));
  });
});
