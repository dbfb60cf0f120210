// The node's WireGuard private key, kept where flanneld keeps it: /run/flannel/wgkey, or the path
// in $WIREGUARD_KEY_FILE. Generated once (base64, no newline, mode 0400, directory 0755), then
// read back at every start so the node keeps its public key across restarts.
import { chmodSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { decodeKey, generatePrivateKey, publicKeyOf } from "../../linux/wireguard/key.ts";
import { namedTempWriter, sweepTemps } from "../../net/file-writer.ts";

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

/** The key in `path`, or undefined when there is no such file. */
function readKey(path: string): NodeKey | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`cannot read the WireGuard key file ${path}: ${(e as Error).message}`);
  }
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

/**
 * Read the private key at `path`, or generate and write it when the file does not exist. A file
 * that is there but holds no key is an error (never silently replaced: peers would lose us).
 * The key appears whole or not at all (a temp file linked into place, exclusively: of two flanneld
 * starting at once, the second reads the first one's key), and the temp file of a flanneld killed
 * while writing it is removed at the next start.
 */
export function loadOrCreateKey(path: string, generate: () => string = generatePrivateKey): NodeKey {
  const existing = readKey(path);
  if (existing) return existing;
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // only temp files whose writer is gone (or older than a minute: pids are reused)
  sweepTemps(dir, 60_000);
  const privateKey = generate();
  if (!namedTempWriter.create(path, privateKey, 0o400)) {
    const theirs = readKey(path);
    if (theirs) return theirs;
    throw new Error(`the WireGuard key file ${path} vanished while it was being created: start flanneld again`);
  }
  chmodSync(path, 0o400); // whatever the umask
  return { privateKey, publicKey: publicKeyOf(privateKey), created: true };
}
