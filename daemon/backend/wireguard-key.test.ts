import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { publicKeyOf } from "../../linux/wireguard/key.ts";
import { DEFAULT_WIREGUARD_KEY_FILE, loadOrCreateKey, wireguardKeyFile } from "./wireguard-key.ts";

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), "weft-wgkey-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("the node's WireGuard key file", () => {
  it("lives at /run/flannel/wgkey unless WIREGUARD_KEY_FILE says otherwise", () => {
    expect(DEFAULT_WIREGUARD_KEY_FILE).toBe("/run/flannel/wgkey");
    expect(wireguardKeyFile({})).toBe("/run/flannel/wgkey");
    expect(wireguardKeyFile({ WIREGUARD_KEY_FILE: "/etc/weft/wg.key" })).toBe("/etc/weft/wg.key");
  });

  it("is generated once: base64 without newline, mode 0400, directory created 0755", () => {
    const path = join(scratch(), "run", "flannel", "wgkey");
    const k = loadOrCreateKey(path);
    expect(k.created).toBe(true);
    expect(readFileSync(path, "utf8")).toBe(k.privateKey);
    expect(k.privateKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(statSync(path).mode & 0o777).toBe(0o400);
    expect(statSync(join(path, "..")).mode & 0o777).toBe(0o755);
    expect(k.publicKey).toBe(publicKeyOf(k.privateKey));
  });

  it("is read back at the next start, so the public key stays the same", () => {
    const path = join(scratch(), "wgkey");
    const first = loadOrCreateKey(path);
    const again = loadOrCreateKey(path, () => {
      throw new Error("must not generate");
    });
    expect(again).toEqual({ ...first, created: false });
  });

  it("accepts a trailing newline (a key written by wg genkey > file)", () => {
    const path = join(scratch(), "wgkey");
    const key = Buffer.alloc(32, 0x48).toString("base64");
    writeFileSync(path, `${key}\n`);
    expect(loadOrCreateKey(path).privateKey).toBe(key);
  });

  it("refuses a file that holds no key instead of replacing it", () => {
    const path = join(scratch(), "wgkey");
    writeFileSync(path, "garbage");
    expect(() => loadOrCreateKey(path)).toThrow(/holds no private key .* delete it to generate a new key/);
    expect(readFileSync(path, "utf8")).toBe("garbage");
  });

  it("removes the temp file a flanneld killed while writing the key left, and writes a whole key", () => {
    const dir = scratch();
    const path = join(dir, "wgkey");
    // the named writer's temp name, of a process that no longer exists (pid max is below 2^22)
    const stale = ".wgkey.tmp-4194999-0badc0de";
    writeFileSync(join(dir, stale), "half a ke");
    // another writer's temp of a live process (this one), recent: not ours to remove
    const live = `.subnet.env.tmp-${process.pid}-12345678`;
    writeFileSync(join(dir, live), "x");
    const k = loadOrCreateKey(path);
    expect(k.created).toBe(true);
    expect(readdirSync(dir).sort()).toEqual([live, "wgkey"].sort());
    expect(readFileSync(path, "utf8")).toBe(k.privateKey);
  });

  it("reads the key another flanneld created first instead of replacing it", () => {
    const path = join(scratch(), "wgkey");
    const theirs = Buffer.alloc(32, 0x21).toString("base64");
    const k = loadOrCreateKey(path, () => {
      writeFileSync(path, theirs); // the other writer lands between our read and our link
      return Buffer.alloc(32, 0x42).toString("base64");
    });
    expect(k).toEqual({ privateKey: theirs, publicKey: publicKeyOf(theirs), created: false });
    expect(readFileSync(path, "utf8")).toBe(theirs);
  });
});
