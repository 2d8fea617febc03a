/**
 * The names of the terminals the chat's chips point at, from /api/terminals. Bounded by the
 * terminals that exist (the server's --max-terminal-sessions): each refresh replaces the whole map,
 * so the names of terminals that are gone are forgotten, and a failed refresh adds nothing. Refreshes
 * are asked for at most once per NAMES_REFRESH_MS, so chips of terminals that no longer exist do
 * not fetch the list on every render, and nothing is kept per id to remember that.
 */
export const NAMES_REFRESH_MS = 5000;

export interface TerminalName {
  id: string;
  name: string;
}

export class TerminalNames {
  #names = new Map<string, string>();
  #lastAsk = -Infinity;

  get size(): number {
    return this.#names.size;
  }

  /** The terminal's tab name, or its short id until the name is known. */
  name(id: string): string {
    return this.#names.get(id) ?? `terminal ${id.slice(0, 6)}`;
  }

  known(id: string): boolean {
    return this.#names.has(id);
  }

  /** `id` is not known and no refresh was asked for in the last NAMES_REFRESH_MS: ask now (counted from `now`). */
  shouldRefresh(id: string, now: number): boolean {
    if (this.#names.has(id) || now - this.#lastAsk < NAMES_REFRESH_MS) return false;
    this.#lastAsk = now;
    return true;
  }

  /** Every terminal that exists, as /api/terminals listed them. */
  replace(list: readonly TerminalName[]): void {
    this.#names = new Map(list.map((t) => [t.id, t.name]));
  }
}
