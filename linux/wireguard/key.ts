/**
 * WireGuard keys: Curve25519 (X25519) private/public key pairs and pre-shared keys, 32 bytes each,
 * written in base64 as wg(8) prints them (`wg genkey`, `wg pubkey`), in hex on the UAPI socket.
 * node:crypto does the curve arithmetic (Node and Bun). Pure module.
 */
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";

export const WG_KEY_LEN = 32;

/** A 32-byte key, or why the text is not one. */
export function decodeKey(text: string): Uint8Array | string {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]{43}=$/.test(t))
    return "a WireGuard key is 44 characters of base64 ending in '=' (as `wg genkey` prints it)";
  const b = Buffer.from(t, "base64");
  if (b.byteLength !== WG_KEY_LEN) return "a WireGuard key decodes to 32 bytes";
  return new Uint8Array(b);
}

/** Base64 text of a key, or a thrown Error saying what is wrong with `text` (named `what`). */
export function parseKey(text: string, what = "key"): string {
  const k = decodeKey(text);
  if (typeof k === "string") throw new Error(`${what} is not valid: ${k}`);
  return encodeKey(k);
}

export function encodeKey(b: Uint8Array): string {
  if (b.byteLength !== WG_KEY_LEN) throw new Error(`a WireGuard key has 32 bytes, got ${b.byteLength}`);
  return Buffer.from(b).toString("base64");
}

export function keyToHex(key: string): string {
  return Buffer.from(parseKey(key), "base64").toString("hex");
}

export function keyFromHex(hex: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`not a hex WireGuard key: ${JSON.stringify(hex)}`);
  return Buffer.from(hex, "hex").toString("base64");
}

export function isZeroKey(b: Uint8Array): boolean {
  return b.every((x) => x === 0);
}

/** Clamp a Curve25519 scalar the way `wg genkey` does (the curve function clamps again anyway). */
function clamp(b: Uint8Array): Uint8Array {
  b[0] = (b[0] ?? 0) & 248;
  b[31] = ((b[31] ?? 0) & 127) | 64;
  return b;
}

/** A new private key (base64), from the system's CSPRNG. */
export function generatePrivateKey(rand: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n))): string {
  return encodeKey(clamp(rand(WG_KEY_LEN)));
}

/** A new pre-shared key (`wg genpsk`: 32 random bytes, no clamping). */
export function generatePresharedKey(): string {
  return encodeKey(new Uint8Array(randomBytes(WG_KEY_LEN)));
}

// PKCS#8 wrapping of a raw X25519 private key (RFC 8410): SEQUENCE { version 0, AlgorithmIdentifier
// { 1.3.101.110 }, OCTET STRING { OCTET STRING (32) } }; the raw key follows these 16 bytes.
const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/** The public key (base64) of a private key (base64), like `wg pubkey`. */
export function publicKeyOf(privateKey: string): string {
  const raw = Buffer.from(parseKey(privateKey, "private key"), "base64");
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(key).export({ format: "der", type: "spki" });
  return encodeKey(new Uint8Array(spki.subarray(spki.byteLength - WG_KEY_LEN)));
}
