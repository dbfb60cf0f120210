/**
 * Random hex for names (host veth names, temp files). Web Crypto's getRandomValues (global in Bun
 * and Node) instead of node:crypto's randomBytes: evaluating the node:crypto module under Bun costs
 * more than the rest of the flannel plugin's own work.
 */

/** `n` crypto-random bytes as 2n lower-case hex digits. */
export function randomHex(n: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
