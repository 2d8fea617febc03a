/**
 * Which program a terminal is running in the foreground, so the UI can ask before closing a tab
 * that would end it (VS Code's "terminate the running process?"). On Linux the shell's
 * /proc/<pid>/stat names the terminal's foreground process group (tpgid): the shell itself while
 * it waits at its prompt, a job's group while one runs (vim, a build, `sleep`). Elsewhere node-pty's
 * `process` (the foreground process's name) is compared with the shell's.
 */
import fs from 'node:fs';
import path from 'node:path';

const HAS_PROC = process.platform === 'linux' && fs.existsSync('/proc/self/stat');

/** The terminal's foreground process group from /proc/<pid>/stat (field 8, tpgid); undefined when unknown. */
export function parseTpgid(stat: string): number | undefined {
  const close = stat.lastIndexOf(')');
  if (close === -1) return undefined;
  // After "pid (comm) ": state ppid pgrp session tty_nr tpgid …
  const tpgid = Number(stat.slice(close + 2).split(' ')[5]);
  return Number.isInteger(tpgid) && tpgid > 0 ? tpgid : undefined;
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    // The process exited between two reads: treat as unknown.
    return undefined;
  }
}

/**
 * The foreground program's name, or null when nothing but the interactive shell is there.
 * `command`: null for an interactive shell; a session made with a command is "running" it until it
 * exits (named by its process, or by the command's first word while `<shell> -c` waits for it:
 * a non-interactive shell keeps its children in its own process group).
 */
export function foregroundProgram(shellPid: number, command: string | null, ptyProcess: () => string, shell: string): string | null {
  const shellName = path.basename(shell);
  let name: string | undefined;
  if (HAS_PROC) {
    const stat = readProc(shellPid, 'stat');
    const tpgid = stat === undefined ? undefined : parseTpgid(stat);
    if (tpgid !== undefined) {
      if (command === null && tpgid === shellPid) return null;
      // The group leader's name; a leader that already exited (its group lives on) falls back to node-pty.
      name = readProc(tpgid, 'comm')?.trim() || undefined;
    }
  }
  if (name === undefined) {
    try {
      name = path.basename(ptyProcess());
    } catch {
      // The PTY is closing: nothing runs any more.
      return null;
    }
  }
  if (command !== null) return name && name !== shellName ? name : path.basename(command.trim().split(/\s+/)[0] ?? '') || shellName;
  return !name || name === shellName ? null : name;
}
