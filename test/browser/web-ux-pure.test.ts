/**
 * Pure helpers of the browser UI's terminal, chat and documents behaviour (issue 11.9–11.13),
 * tested under Node: the terminal shortcuts, the touch-scroll arithmetic, the agent help's
 * formatting, presence labels and the Markdown marker a user types after a continued list item.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { configHelp } from '../../src/agent/provider.ts';
import { helpBlocks } from '../../web/src/chat/agent-help.ts';
import { collapseTypedMarker } from '../../web/src/docs/list-markers.ts';
import { peerLabels } from '../../web/src/docs/presence.ts';
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

describe('document presence labels', () => {
  it('are one letter where that is enough, longer or numbered where names share it, and always distinct', () => {
    assert.deepEqual(peerLabels(['Ada', 'Bob']), ['A', 'B']);
    assert.deepEqual(peerLabels(['Ada', 'Alan', 'Bob']), ['Ad', 'Al', 'B']);
    assert.deepEqual(peerLabels(['Ada Lovelace', 'Alan Turing']), ['AL', 'AT']);
    assert.deepEqual(peerLabels(['Guest 123', 'Guest 456']), ['G1', 'G4']);
    assert.deepEqual(peerLabels(['Ada', 'Ada']), ['A1', 'A2'], 'the same name twice');
    assert.deepEqual(peerLabels(['élise', 'Émile']), ['Él', 'Ém']);
    assert.deepEqual(peerLabels(['']), ['?']);
    const many = peerLabels(['Al', 'Alan', 'Alice', 'Amy', 'Bo', 'Ben']);
    assert.equal(new Set(many).size, many.length, `distinct: ${many.join(' ')}`);
  });
});

describe('a list marker typed over the continued one', () => {
  it('collapses right after a list item, to the marker typed; leaves everything else alone', () => {
    assert.equal(collapseTypedMarker('- - ', '- item'), '- ');
    assert.equal(collapseTypedMarker('2. 2. ', '1. one'), '2. ');
    assert.equal(collapseTypedMarker('- 1. ', '- next'), '1. ', 'switching to a numbered list');
    assert.equal(collapseTypedMarker('  - - ', '  - nested'), '  - ');
    assert.equal(collapseTypedMarker('- [ ] - ', '- [ ] task'), '- ', 'the task box is typed again after it');
    assert.equal(collapseTypedMarker('- - ', 'plain text'), undefined, 'not after a list item');
    assert.equal(collapseTypedMarker('- - ', undefined), undefined);
    assert.equal(collapseTypedMarker('- x - ', '- item'), undefined, 'text in between');
    assert.equal(collapseTypedMarker('- ', '- item'), undefined);
  });
});

describe('the UI asks in the page', () => {
  it('calls no prompt(), confirm() or alert() anywhere in web/src (dialog.ts instead)', () => {
    const root = path.resolve(import.meta.dirname, '../../web/src');
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts')) {
          fs.readFileSync(p, 'utf8')
            .split('\n')
            .forEach((line, i) => {
              const code = line.replace(/\/\/.*$/, '').replace(/\/\*.*?\*\//g, '');
              if (/^\s*\*/.test(code)) return; // a doc comment
              if (/(?<![\w.$])(?:window\.)?(?:prompt|confirm|alert)\s*\(/.test(code)) found.push(`${path.relative(root, p)}:${i + 1}: ${line.trim()}`);
            });
        }
      }
    };
    walk(root);
    assert.deepEqual(found, []);
  });
});
