/**
 * One PTY size for several devices (issue 11.7, docs/protocol.md "Size"): the size follows the owner
 * that last typed or claimed it; other viewers' sizes are preferences that never reflow the PTY
 * behind the controller's back. Real PTY (`stty size` tells what the program sees), real sockets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeClient } from './protocol.ts';
import { shareOf, startServer, TestClient, waitFor, type TestServer } from './test-helpers.ts';

describe('terminals: who sets the size', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ terminalShell: '/bin/bash' });
  });
  after(async () => {
    await srv.close();
  });

  it('the first owner to state a size takes it; another device’s size is only a preference until it types or claims; the next most recent owner takes over when the controller leaves; read-only viewers never do', async () => {
    const { json } = await srv.api('POST', '/api/terminals', { cols: 80, rows: 24, command: 'bash --norc --noprofile -i' });
    const id = json.id as string;
    const session = srv.keel.ctx.services.terminals!.get(id)!;
    const size = () => `${session.cols}x${session.rows}`;
    // What the program sees, asked from the shell: stty prints "rows cols".
    const stty = async (c: TestClient, tag: string) => {
      c.input(`echo ${tag}-$(stty size | tr ' ' x)\r`);
      const re = new RegExp(`^${tag}-(\\d+x\\d+)$`, 'm');
      let seen = '';
      await waitFor(async () => ((seen = re.exec((await srv.api('GET', `/api/terminals/${id}/screen?scrollback=100`)).text)?.[1] ?? ''), seen !== ''), `stty ${tag}`);
      return seen;
    };

    const desk = new TestClient(srv, id);
    await desk.ready();
    assert.equal(desk.meta?.sizeControl, 'none', 'nobody controls the size before anyone states one');
    desk.ws.send(encodeClient.resize(100, 30));
    await waitFor(() => desk.meta?.cols === 100 && desk.meta.sizeControl === 'you', 'the desktop to take the size');
    assert.equal(size(), '100x30');

    // The phone opens and states its size: the PTY does not move.
    const phone = new TestClient(srv, id);
    await phone.ready();
    phone.ws.send(encodeClient.resize(47, 40));
    assert.equal(phone.meta?.sizeControl, 'other');
    assert.equal(await stty(desk, 'a'), '30x100', 'opening the phone leaves the size alone');
    assert.equal(size(), '100x30');
    assert.equal(desk.meta?.sizeControl, 'you');

    // Typing on the phone makes it the controller; the program sees its size before the typed line.
    assert.equal(await stty(phone, 'b'), '40x47');
    await waitFor(() => phone.meta?.sizeControl === 'you' && desk.meta?.sizeControl === 'other' && desk.meta.cols === 47, 'the phone to control the size');

    // The desktop's window changes: still only a preference.
    desk.ws.send(encodeClient.resize(120, 35));
    assert.equal(await stty(phone, 'c'), '40x47');

    // "Fit here" on the desktop: a claim takes the size back at its latest preference.
    desk.ws.send(encodeClient.resize(120, 35, true));
    await waitFor(() => desk.meta?.sizeControl === 'you' && phone.meta?.sizeControl === 'other' && phone.meta.cols === 120, 'the desktop to take the size back');
    assert.equal(size(), '120x35');
    assert.equal(await stty(desk, 'e'), '35x120');

    // A read-only viewer can neither size nor claim; it sees who does.
    const ro = new TestClient(srv, id, { share: await shareOf(srv, id) });
    await ro.ready();
    ro.ws.send(encodeClient.resize(30, 10));
    ro.ws.send(encodeClient.resize(30, 10, true));
    await waitFor(() => ro.notices.filter((n) => n.code === 'read_only').length === 2, 'two read_only notices');
    assert.equal(ro.meta?.sizeControl, 'other');
    assert.equal(await stty(desk, 'f'), '35x120');

    // The controller leaves: the most recently active owner (the phone) takes over with its size.
    desk.close();
    await waitFor(() => phone.meta?.sizeControl === 'you' && phone.meta.cols === 47 && phone.meta.viewers === 2, 'the phone to take over');
    assert.equal(await stty(phone, 'g'), '40x47');
    phone.close();
    ro.close();
    await srv.api('DELETE', `/api/terminals/${id}`);
  });
});
