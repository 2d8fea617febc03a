/**
 * Small choices remembered in localStorage (last chat, last document, display name, agent pane).
 * Storage can be disabled (private mode, policies): reads then give undefined and writes are dropped,
 * so a choice lasts for this page only.
 */
export function stored(key: string): string | undefined {
  try {
    return localStorage.getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Remembers `value` under `key`; undefined forgets it. */
export function store(key: string, value: string | undefined): void {
  try {
    if (value === undefined) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Storage disabled: the choice lasts for this page only.
  }
}
