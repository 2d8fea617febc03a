/**
 * What the agent's tools need from the terminals, as a narrow interface: the real one wraps the
 * TerminalManager (src/terminals), tests may pass a fake.
 */
import type { TerminalManager } from '../terminals/manager.ts';
import { notFound } from '../terminals/manager.ts';

export interface TerminalInfo {
  id: string;
  name: string;
  cwd: string;
  command: string | null;
  cols: number;
  rows: number;
  state: string;
}

export interface TerminalControl {
  list(): TerminalInfo[];
  /** Throws a KeelError (limit, bad cwd, spawn failure) with a message fit for the model. */
  create(req: { cols: number; rows: number; cwd?: string; command?: string | null; name?: string }): TerminalInfo;
  /** The screen as plain text, with up to `scrollbackLines` lines above it. Throws when the terminal is gone. */
  screen(id: string, scrollbackLines: number): Promise<string>;
  /** Throws when the terminal is gone. */
  write(id: string, data: string): 'ok' | 'exited' | 'busy';
  /** Bytes the terminal has printed so far (a cheap change counter), or undefined once it is gone. */
  outputBytes(id: string): number | undefined;
  readonly sizeRange: { minCols: number; maxCols: number; minRows: number; maxRows: number };
}

export function managerControl(mgr: TerminalManager): TerminalControl {
  const info = (id: string): TerminalInfo => {
    const s = mgr.get(id);
    if (!s) throw notFound(id);
    return { id: s.id, name: s.name, cwd: s.cwd, command: s.command, cols: s.cols, rows: s.rows, state: s.state };
  };
  const session = (id: string) => {
    const s = mgr.get(id);
    if (!s) throw notFound(id);
    return s;
  };
  return {
    sizeRange: mgr.sizeRange,
    list: () => mgr.list().map((s) => info(s.id)),
    create: (req) => info(mgr.create(req).id),
    screen: (id, n) => session(id).screenText(n),
    write: (id, data) => session(id).write(data),
    outputBytes: (id) => {
      const s = mgr.get(id);
      return s && s.state !== 'exited' ? s.bytesOut : undefined;
    },
  };
}
