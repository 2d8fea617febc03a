/**
 * The labels on the presence badges: initials, made longer only as far as needed to tell the people
 * here apart ("Ada" and "Alan" are "Ad" and "Al", not two "A"s). Pure, tested under Node.
 */

/** At most this many letters on a badge (a 26 px circle); past that, a number tells names apart. */
const MAX_LABEL_CHARS = 2;

interface Source {
  chars: string[];
  /** Initials of several words ("AL"), all upper case; else letters of one word ("Al"). */
  initials: boolean;
}

function labelSource(name: string): Source {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return { chars: ['?'], initials: false };
  if (words.length === 1) return { chars: [...words[0]!], initials: false };
  return { chars: words.map((w) => [...w][0]!), initials: true };
}

function cut(src: Source, n: number): string {
  return src.chars
    .slice(0, n)
    .map((c, i) => (i === 0 || src.initials ? c.toUpperCase() : c.toLowerCase()))
    .join('');
}

function duplicates(labels: string[]): Set<string> {
  const count = new Map<string, number>();
  for (const l of labels) count.set(l, (count.get(l) ?? 0) + 1);
  return new Set([...count].filter(([, c]) => c > 1).map(([l]) => l));
}

/**
 * One label per name, in order, all different: the first letter where it is unique, else as many
 * letters as tell the names apart (up to two), else the first letter and a number (the same name twice).
 */
export function peerLabels(names: readonly string[]): string[] {
  const srcs = names.map(labelSource);
  const labels = srcs.map((s) => cut(s, 1));
  for (let n = 2; n <= MAX_LABEL_CHARS; n++) {
    const dup = duplicates(labels);
    if (dup.size === 0) return labels;
    labels.forEach((l, i) => {
      if (dup.has(l)) labels[i] = cut(srcs[i]!, n);
    });
  }
  const dup = duplicates(labels);
  if (dup.size === 0) return labels;
  // Still equal (the same name twice, or names alike in their first letters): number them.
  const seen = new Map<string, number>();
  return labels.map((l, i) => {
    if (!dup.has(l)) return l;
    const k = (seen.get(l) ?? 0) + 1;
    seen.set(l, k);
    return `${cut(srcs[i]!, 1)}${k}`;
  });
}
