import { describe, expect, it } from "vitest";
import {
  decodeKey,
  generatePresharedKey,
  generatePrivateKey,
  keyFromHex,
  keyToHex,
  parseKey,
  publicKeyOf,
} from "./key.ts";

const b64 = (hex: string) => Buffer.from(hex, "hex").toString("base64");

describe("WireGuard keys", () => {
  it("derives the X25519 public key of RFC 7748 section 6.1's test vectors", () => {
    // Alice and Bob: private scalars and the public keys the RFC lists for them
    expect(publicKeyOf(b64("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))).toBe(
      b64("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
    );
    expect(publicKeyOf(b64("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))).toBe(
      b64("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
    );
  });

  it("generates clamped private keys, 44 characters of base64 like wg genkey", () => {
    const k = generatePrivateKey(() => new Uint8Array(32).fill(0xff));
    const raw = Buffer.from(k, "base64");
    expect(k).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(raw[0]).toBe(0xf8);
    expect(raw[31]).toBe(0x7f);
    expect(generatePrivateKey()).not.toBe(generatePrivateKey());
    expect(decodeKey(generatePresharedKey())).toBeInstanceOf(Uint8Array);
  });

  it("accepts a key with surrounding whitespace and rejects what is not 32 bytes of base64", () => {
    const k = generatePrivateKey();
    expect(parseKey(`${k}\n`)).toBe(k);
    expect(decodeKey("abc")).toMatch(/44 characters of base64/);
    expect(decodeKey(`${k.slice(0, 42)}==`)).toMatch(/44 characters/);
    expect(() => parseKey("not a key", "PSK")).toThrow(/PSK is not valid/);
  });

  it("round-trips keys through the UAPI's hex form", () => {
    const k = generatePrivateKey();
    const hex = keyToHex(k);
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    expect(keyFromHex(hex)).toBe(k);
    expect(() => keyFromHex("zz")).toThrow(/not a hex WireGuard key/);
  });
});
