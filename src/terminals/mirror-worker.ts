/**
 * The mirror worker: hosts the headless terminals of many sessions, off the main thread, because
 * parsing terminal output costs CPU (a few MB/s per core) and must not delay forwarding to viewers.
 * Messages are handled in order, so a snapshot reflects exactly the data posted before it.
 */
import { parentPort } from 'node:worker_threads';
import serializeModule from '@xterm/addon-serialize';
import headless from '@xterm/headless';
import type { FromWorker, SnapshotReply, ToWorker } from './mirror-messages.ts';
import { screenText } from './screen-text.ts';

const { Terminal } = headless;
const { SerializeAddon } = serializeModule;

interface Entry {
  term: InstanceType<typeof Terminal>;
  serializer: InstanceType<typeof SerializeAddon>;
  scrollback: number;
}

const port = parentPort;
if (!port) throw new Error('mirror-worker.ts must run in a worker thread');
const mirrors = new Map<string, Entry>();

const post = (m: FromWorker) => port.postMessage(m);

/**
 * Runs `fn` once every write queued so far has been parsed (xterm parses asynchronously, in order).
 * If the mirror was closed meanwhile, `fn` must not touch its disposed terminal: `onClosed` runs instead.
 */
function afterWrites(id: string, e: Entry, fn: () => void, onClosed?: () => void): void {
  e.term.write('', () => (mirrors.get(id) === e ? fn() : onClosed?.()));
}

const closedReply = (req: number) => () => post({ t: 'reply', req, ok: false, error: 'mirror closed' });

function reply(req: number, fn: () => SnapshotReply | string | number): void {
  try {
    post({ t: 'reply', req, ok: true, value: fn() });
  } catch (err) {
    post({ t: 'reply', req, ok: false, error: String((err as Error)?.message ?? err) });
  }
}

port.on('message', (m: ToWorker) => {
  if (m.t === 'open') {
    const term = new Terminal({ cols: m.cols, rows: m.rows, scrollback: m.scrollback, allowProposedApi: true });
    const serializer = new SerializeAddon();
    term.loadAddon(serializer);
    mirrors.set(m.id, { term, serializer, scrollback: m.scrollback });
    return;
  }
  const e = mirrors.get(m.id);
  if (!e) {
    // A request for a mirror closed meanwhile (teardown raced with it): answer so nothing waits forever.
    if ('req' in m) post({ t: 'reply', req: m.req, ok: false, error: 'mirror closed' });
    return;
  }
  switch (m.t) {
    case 'data': {
      const n = m.data.byteLength;
      e.term.write(m.data, () => {
        if (mirrors.get(m.id) === e) post({ t: 'parsed', id: m.id, bytes: n, lines: e.term.buffer.normal.length });
      });
      return;
    }
    case 'resize':
      // Ordered with the data: queued writes before it are parsed at the old size, as in a real terminal.
      afterWrites(m.id, e, () => e.term.resize(m.cols, m.rows));
      return;
    case 'snapshot':
      afterWrites(
        m.id,
        e,
        () =>
        reply(m.req, () => ({
          data: e.serializer.serialize({ scrollback: e.scrollback }),
          cols: e.term.cols,
          rows: e.term.rows,
          cursorX: e.term.buffer.active.cursorX,
          cursorY: e.term.buffer.active.cursorY,
        })),
        closedReply(m.req),
      );
      return;
    case 'text':
      afterWrites(m.id, e, () => reply(m.req, () => screenText(e.term, m.scrollback)), closedReply(m.req));
      return;
    case 'trim':
      afterWrites(
        m.id,
        e,
        () =>
        reply(m.req, () => {
          const before = e.term.buffer.normal.length;
          // Lowering the option drops the oldest lines now; raising it again only allows regrowth.
          e.term.options.scrollback = 0;
          e.term.options.scrollback = e.scrollback;
          return before - e.term.buffer.normal.length;
        }),
        closedReply(m.req),
      );
      return;
    case 'close':
      mirrors.delete(m.id);
      // Disposing with writes still queued makes xterm's parser run on a disposed terminal: let the (bounded) backlog finish first.
      e.term.write('', () => e.term.dispose());
      return;
  }
});
