/**
 * Finding and hanging up everything a terminal started. A shell with job control puts each job in
 * its own process group, so killing the shell's group alone would orphan `sleep 100 &` or a
 * foreground `vim`; instead we signal every process in the terminal's session (the shell is the
 * session leader, so the session id is the shell's pid). Linux reads /proc; elsewhere we fall back
 * to the shell's process group.
 */
import fs from 'node:fs';

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgrp: number;
  session: number;
  state: string;
}

/** Parses /proc/<pid>/stat ("pid (comm) state ppid pgrp session …"); comm may hold spaces and parens. */
export function parseStat(text: string): ProcInfo | undefined {
  const close = text.lastIndexOf(')');
  if (close === -1) return undefined;
  const pid = Number(text.slice(0, text.indexOf(' ')));
  const f = text.slice(close + 2).split(' ');
  if (f.length < 4) return undefined;
  return { pid, state: f[0]!, ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]) };
}

const HAS_PROC = process.platform === 'linux' && fs.existsSync('/proc/self/stat');

/** Every process on the machine we can see (Linux); empty elsewhere. */
export function listProcesses(): ProcInfo[] {
  if (!HAS_PROC) return [];
  const out: ProcInfo[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const p = parseStat(fs.readFileSync(`/proc/${name}/stat`, 'utf8'));
      if (p) out.push(p);
    } catch {
      // The process exited between readdir and read: nothing to report.
    }
  }
  return out;
}

/** Live (non-zombie) processes of a session. */
export function sessionMembers(sid: number): ProcInfo[] {
  return listProcesses().filter((p) => p.session === sid && p.state !== 'Z');
}

/** Sends `signal` to every process of the session (Linux) or to the group `-sid`; returns how many were signalled. */
export function signalSession(sid: number, signal: NodeJS.Signals): number {
  if (!(sid > 1)) return 0;
  let n = 0;
  const targets = HAS_PROC ? sessionMembers(sid).map((p) => p.pid) : [-sid];
  for (const pid of targets) {
    try {
      process.kill(pid, signal);
      n++;
    } catch {
      // Already gone (ESRCH): that is the goal.
    }
  }
  // Also the group itself, in case /proc missed a process forked meanwhile.
  try {
    process.kill(-sid, signal);
  } catch {
    // No such group any more.
  }
  return n;
}
