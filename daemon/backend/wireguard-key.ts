// The node's WireGuard private key, kept where flanneld keeps it: /run/flannel/wgkey, or the path
// in $WIREGUARD_KEY_FILE. Generated once (base64, no newline, mode 0400, directory 0755), then
// read back at every start so the node keeps its public key across restarts.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { decodeKey, generatePrivateKey, publicKeyOf } from "../../linux/wireguard/key.ts";

export const DEFAULT_WIREGUARD_KEY_FILE = "/run/flannel/wgkey";

/** $WIREGUARD_KEY_FILE (even empty, as flanneld's LookupEnv) or /run/flannel/wgkey. */
export function wireguardKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  return env["WIREGUARD_KEY_FILE"] ?? DEFAULT_WIREGUARD_KEY_FILE;
}

export interface NodeKey {
  readonly privateKey: string;
  readonly publicKey: string;
  /** True when this call generated and wrote the key. */
  readonly created: boolean;
}

/**
 * Read the private key at `path`, or generate and write it when the file does not exist. A file
 * that is there but holds no key is an error (never silently replaced: peers would lose us).
 */
export function loadOrCreateKey(path: string, generate: () => string = generatePrivateKey): NodeKey {
  let text: string | undefined;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT")
      throw new Error(`cannot read the WireGuard key file ${path}: ${(e as Error).message}`);
  }
  if (text !== undefined) {
    const k = decodeKey(text);
    if (typeof k === "string") {
      throw new Error(
        `the WireGuard key file ${path} holds no private key (${k}): fix it, or delete it to generate a new ` +
          "key (set WIREGUARD_KEY_FILE to use another file)",
      );
    }
    const privateKey = Buffer.from(k).toString("base64");
    return { privateKey, publicKey: publicKeyOf(privateKey), created: false };
  }
  const privateKey = generate();
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  // written beside the target and renamed into place: a crash never leaves a half-written key
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, privateKey, { mode: 0o400 });
  chmodSync(tmp, 0o400);
  renameSync(tmp, path);
  return { privateKey, publicKey: publicKeyOf(privateKey), created: true };
}
