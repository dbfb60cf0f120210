/** Hardware addresses: text <-> bytes. Pure. */

/** Bytes of `aa:bb:cc:dd:ee:ff` (any number of octets, separated by `:` or `-`); throws TypeError. */
export function parseMac(s: string): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length < 2 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new TypeError(`invalid MAC address "${s}"`);
  }
  return Uint8Array.from(parts.map((p) => Number.parseInt(p, 16)));
}

/** Lower-case, colon-separated text of MAC bytes. */
export function formatMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}
