/**
 * Kernel-sent message bodies (linux/netlink/testdata/kernel-messages.json, captured with capture-fixtures.ts) as
 * NlMessages for decoder tests.
 */
import { readFileSync } from "node:fs";
import type { NlMessage } from "../netlink/message.ts";

const FILE = new URL("../netlink/testdata/kernel-messages.json", import.meta.url);
const raw = JSON.parse(readFileSync(FILE, "utf8")) as Record<string, string>;

export function kernelMessage(name: string, type: number): NlMessage {
  const hex = raw[name];
  if (hex === undefined) throw new Error(`no fixture ${name}`);
  return { type, flags: 0, seq: 0, pid: 0, body: new Uint8Array(Buffer.from(hex, "hex")) };
}
