/** Test helper: two frame transports joined back to back, with an optional tap that may alter, drop, repeat or hold frames. */
import type { FrameTransport } from './secure-channel.ts';

export type Tap = (frame: Uint8Array, deliver: (f: Uint8Array) => void, direction: 'a→b' | 'b→a') => void;

export function pipe(tap?: Tap): [FrameTransport, FrameTransport] {
  let open = true;
  const mk = (): FrameTransport => ({ send: () => {}, close: () => {}, onframe: null, onclose: null });
  const a = mk();
  const b = mk();
  const wire = (from: FrameTransport, to: FrameTransport, dir: 'a→b' | 'b→a') => {
    from.send = (f) => {
      if (!open) return;
      const copy = f.slice();
      const deliver = (x: Uint8Array) => queueMicrotask(() => open && to.onframe?.(x));
      if (tap) tap(copy, deliver, dir);
      else deliver(copy);
    };
    from.close = (code, reason) => {
      if (!open) return;
      open = false;
      queueMicrotask(() => {
        to.onclose?.(code, reason);
        from.onclose?.(code, reason);
      });
    };
  };
  wire(a, b, 'a→b');
  wire(b, a, 'b→a');
  return [a, b];
}
