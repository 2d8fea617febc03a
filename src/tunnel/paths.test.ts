import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { PathSwitch, type PathChannel, type PathLimits } from './paths.ts';

/** Two ordered channels back to back, with a latency per message, a switch that loses everything sent from now on, and a close. */
function link(latencyMs: () => number) {
  let open = true;
  let cut = false;
  const mk = (): PathChannel & { sent: number } => ({ send: () => {}, close: () => {}, onmessage: null, onclose: null, sent: 0 });
  const a = mk();
  const b = mk();
  const wire = (from: typeof a, to: typeof a) => {
    // One queue and one timer per direction: timers set at different times may fire out of order.
    const q: { at: number; m: Uint8Array }[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const pump = () => {
      timer = undefined;
      while (q.length && q[0]!.at <= Date.now()) {
        const { m } = q.shift()!;
        if (open) to.onmessage?.(m);
      }
      if (q.length) timer = setTimeout(pump, q[0]!.at - Date.now());
    };
    from.send = (m) => {
      if (!open) return;
      from.sent++;
      if (cut) return;
      const at = Math.max(q.at(-1)?.at ?? 0, Date.now() + latencyMs());
      q.push({ at, m: m.slice() });
      timer ??= setTimeout(pump, at - Date.now());
    };
    from.close = (code, reason) => {
      if (!open) return;
      open = false;
      from.onclose?.(code, reason);
      setTimeout(() => to.onclose?.(code, reason), 5);
    };
  };
  wire(a, b);
  wire(b, a);
  return { a, b, cut: () => (cut = true) };
}

const open: PathSwitch[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close(1000, 'test done');
});

function end(primary: PathChannel, limits: Partial<PathLimits> = {}, enabled = true) {
  const got: number[] = [];
  const paths: string[] = [];
  let closed: string | undefined;
  const sw = new PathSwitch({
    primary,
    enabled,
    limits: { keepaliveMs: 60_000, ...limits },
    onMessage: (m) => got.push(new DataView(m.buffer, m.byteOffset).getUint32(1)),
    onClose: (_c, r) => (closed = r),
    onPath: (k, r) => paths.push(`${k}: ${r}`),
  });
  open.push(sw);
  return { sw, got, paths, closed: () => closed };
}

/** A mux-like message: op 4 (data) and a counter, padded. */
function msg(i: number, pad = 20): Uint8Array {
  const m = new Uint8Array(5 + pad);
  m[0] = 4;
  new DataView(m.buffer).setUint32(1, i);
  return m;
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(fn: () => boolean, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

/** Like SecureChannel: keeps what arrives before onmessage is set, and hands it over on the next message or on flushEarly. */
function holdsEarly(ch: PathChannel): PathChannel {
  const early: Uint8Array[] = [];
  const w: PathChannel = {
    send: (m) => ch.send(m),
    close: (c, r) => ch.close(c, r),
    onmessage: null,
    onclose: null,
    flushEarly: () => {
      for (const m of early.splice(0)) w.onmessage?.(m);
    },
  };
  ch.onmessage = (m) => {
    if (!w.onmessage) return void early.push(m);
    for (const e of early.splice(0)) w.onmessage(e);
    w.onmessage(m);
  };
  ch.onclose = (c, r) => w.onclose?.(c, r);
  return w;
}

describe('path switch', () => {
  it('moves to a faster direct path mid-stream: every message once and in order, and the relay stops carrying them', async () => {
    const relay = link(() => 30);
    const browser = end(relay.a);
    const host = end(relay.b);
    for (let i = 0; i < 200; i++) browser.sw.send(msg(i));
    const direct = link(() => 1);
    browser.sw.attachDirect(direct.a);
    host.sw.attachDirect(direct.b);
    const relaySentBefore = relay.a.sent;
    for (let i = 200; i < 400; i++) browser.sw.send(msg(i));
    await until(() => host.got.length === 400, 'all 400 messages');
    assert.deepEqual(host.got, range(0, 400));
    assert.equal(relay.a.sent, relaySentBefore, 'nothing more went over the relay');
    assert.equal(browser.sw.path, 'direct');
    await until(() => browser.sw.unackedBytes === 0, 'the host to acknowledge what came directly');
  });

  it('falls back when the direct path closes: what it lost is sent again over the relay, nothing twice, in order', async () => {
    const relay = link(() => 5);
    const browser = end(relay.a);
    const host = end(relay.b);
    const direct = link(() => 2);
    browser.sw.attachDirect(direct.a);
    host.sw.attachDirect(direct.b);
    for (let i = 0; i < 100; i++) browser.sw.send(msg(i));
    await until(() => host.got.length === 100, 'the first 100 directly');
    direct.cut(); // Everything sent from here on is lost in the direct path.
    for (let i = 100; i < 300; i++) browser.sw.send(msg(i));
    assert.ok(browser.sw.unackedBytes > 0);
    direct.b.close(1000, 'closed from the host side');
    await until(() => host.got.length === 300, 'all 300 messages after the fallback');
    assert.deepEqual(host.got, range(0, 300));
    assert.equal(browser.sw.path, 'relayed');
    assert.equal(host.sw.path, 'relayed');
    assert.ok(browser.sw.stats.resent >= 200, `resent ${browser.sw.stats.resent}`);
    assert.match(browser.paths.at(-1)!, /^relayed: /);
  });

  it('falls back when the direct path silently stalls (no acknowledgement within stallMs)', async () => {
    const relay = link(() => 2);
    const browser = end(relay.a, { stallMs: 300 });
    const host = end(relay.b, { stallMs: 300 });
    const direct = link(() => 1);
    browser.sw.attachDirect(direct.a);
    host.sw.attachDirect(direct.b);
    direct.cut();
    for (let i = 0; i < 50; i++) browser.sw.send(msg(i));
    await until(() => host.got.length === 50, 'the messages after the stall fallback');
    assert.deepEqual(host.got, range(0, 50));
    assert.match(browser.paths.at(-1)!, /stalled/);
  });

  it('holds messages that overtook the relay, bounded: past maxHeldBytes the direct path is dropped and the relay brings them', async () => {
    const relay = link(() => 300);
    const browser = end(relay.a, { maxHeldBytes: 2_000 });
    const host = end(relay.b, { maxHeldBytes: 2_000 });
    for (let i = 0; i < 10; i++) browser.sw.send(msg(i));
    const direct = link(() => 1);
    browser.sw.attachDirect(direct.a);
    host.sw.attachDirect(direct.b);
    for (let i = 10; i < 200; i++) browser.sw.send(msg(i, 100));
    await until(() => host.paths.some((p) => /ahead of the relay/.test(p)), 'the host to drop the direct path');
    await until(() => host.got.length === 200, 'all messages through the relay');
    assert.deepEqual(host.got, range(0, 200));
  });

  it('random switching both ways under random latencies delivers 3000 messages each way exactly once, in order', async () => {
    const relay = link(() => Math.random() * 8);
    const browser = end(relay.a, { stallMs: 200 });
    const host = end(relay.b, { stallMs: 200 });
    let i = 0;
    let j = 0;
    for (let round = 0; round < 12; round++) {
      const direct = link(() => Math.random() * 3);
      browser.sw.attachDirect(direct.a);
      host.sw.attachDirect(direct.b);
      for (let k = 0; k < 125; k++) {
        browser.sw.send(msg(i++));
        host.sw.send(msg(j++));
        if (k % 40 === 0) await sleep(Math.random() * 5);
      }
      const how = round % 3;
      if (how === 0) direct.a.close(1000, 'browser closed it');
      else if (how === 1) direct.b.close(1000, 'host closed it');
      else direct.cut();
      for (let k = 0; k < 125; k++) {
        browser.sw.send(msg(i++));
        host.sw.send(msg(j++));
      }
      await sleep(Math.random() * 10);
    }
    await until(() => host.got.length === i && browser.got.length === j, `all messages (${host.got.length}/${i}, ${browser.got.length}/${j})`, 20_000);
    assert.deepEqual(host.got, range(0, i));
    assert.deepEqual(browser.got, range(0, j));
    assert.equal(host.closed(), undefined);
  });

  it('is a pass-through when the peer does not speak the path layer', async () => {
    const relay = link(() => 1);
    const browser = end(relay.a, {}, false);
    const host = end(relay.b, {}, false);
    for (let i = 0; i < 20; i++) browser.sw.send(msg(i));
    await until(() => host.got.length === 20, 'messages');
    assert.deepEqual(host.got, range(0, 20));
    const direct = link(() => 1);
    browser.sw.attachDirect(direct.a);
    assert.equal(browser.sw.path, 'relayed', 'no direct path without the peer speaking the layer');
  });

  it('closes the tunnel on a bogus acknowledgement or a relayed resume that skips messages', async () => {
    const relay = link(() => 1);
    const host = end(relay.b);
    const ack = new Uint8Array(9);
    ack[0] = 0x40;
    new DataView(ack.buffer).setBigUint64(1, 99n);
    relay.a.send(ack);
    await until(() => host.closed() !== undefined, 'the host to close');
    assert.match(host.closed()!, /acknowledged messages that were never sent/);

    const relay2 = link(() => 1);
    const host2 = end(relay2.b);
    const resume = new Uint8Array(9);
    resume[0] = 0x41;
    new DataView(resume.buffer).setBigUint64(1, 5n);
    relay2.a.send(resume);
    await until(() => host2.closed() !== undefined, 'the host to close');
    assert.match(host2.closed()!, /resumed past a message/);
  });

  it('delivers what the peer sent on the direct path before this end attached it, without waiting for another message', async () => {
    const relay = link(() => 1);
    const browser = end(relay.a, { stallMs: 60_000 });
    const host = end(relay.b, { stallMs: 60_000 });
    const direct = link(() => 1);
    const hostSide = holdsEarly(direct.b);
    browser.sw.attachDirect(direct.a);
    for (let i = 0; i < 5; i++) browser.sw.send(msg(i));
    await sleep(30); // The browser's resume and its five messages wait in the host's channel.
    host.sw.attachDirect(hostSide);
    await until(() => host.got.length === 5, 'the five early messages', 3_000);
    assert.deepEqual(host.got, range(0, 5));
    assert.equal(browser.sw.stats.fallbacks, 0);
    assert.equal(host.sw.path, 'direct');
  });

  it('keeps the relay busy with a keepalive while traffic goes direct', async () => {
    const relay = link(() => 1);
    const browser = end(relay.a, { keepaliveMs: 100 });
    end(relay.b);
    const direct = link(() => 1);
    browser.sw.attachDirect(direct.a);
    const before = relay.a.sent;
    await sleep(450);
    assert.ok(relay.a.sent - before >= 2, `keepalives sent: ${relay.a.sent - before}`);
    browser.sw.close(1000, 'done');
  });
});
