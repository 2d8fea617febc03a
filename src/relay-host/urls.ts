/** `--relay` takes one URL or several, comma-separated (relays that share a Redis). Own module so routes need not load the connector to read it. */
export function relayUrls(option: string): string[] {
  return option
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}
