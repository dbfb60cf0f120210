/**
 * Regenerates linux/netlink/testdata/iproute2-requests.json: the RTM_NEWLINK requests iproute2
 * sends for link types whose kernel module this test machine lacks (ipip), so our request builders
 * can be compared with them byte for byte. The kernel refuses them ("Unknown device type"), but the
 * request is on the wire first: strace prints every byte `ip` writes to its netlink socket
 * (`-e write=3`, a hex dump of each sendmsg buffer). Run as root with bun:
 *
 *   bun linux/testing/capture-iproute2-requests.ts > linux/netlink/testdata/iproute2-requests.json
 *
 * Needs strace and iproute2. It makes and deletes one network namespace of its own.
 */
import { spawnSync } from "node:child_process";

const NS = `wcap${process.pid}`;
const COMMANDS: Record<string, string[]> = {
  // what flanneld's ipip backend creates: flannel's attributes (ttl and tos inherited, no PMTU
  // discovery), the underlay MTU - 20 given at creation
  ipipFlannel: [
    "link",
    "add",
    "flannel.ipip",
    "mtu",
    "1480",
    "type",
    "ipip",
    "local",
    "192.0.2.1",
    "ttl",
    "0",
    "tos",
    "0",
    "nopmtudisc",
  ],
  // every other attribute the builder writes: remote, underlay device (lo = index 1), ttl, tos, pmtudisc on
  ipipFull: [
    "link",
    "add",
    "t0",
    "type",
    "ipip",
    "remote",
    "192.0.2.9",
    "local",
    "192.0.2.1",
    "dev",
    "lo",
    "ttl",
    "64",
    "tos",
    "0x10",
  ],
};

function sh(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The hex of the last RTM_NEWLINK (type 16) buffer in strace's `-e write=` dumps. */
function lastNewlink(trace: string): string {
  const buffers: string[] = [];
  let cur: string[] | undefined;
  for (const line of trace.split("\n")) {
    if (/^ \* \d+ bytes in buffer/.test(line)) {
      cur = [];
      buffers.push("");
      continue;
    }
    const m = /^ \| [0-9a-f]{5}  ((?:[0-9a-f]{2} {1,2}){1,16})/.exec(line);
    if (m && cur) buffers[buffers.length - 1] += (m[1] ?? "").replace(/\s+/g, "");
  }
  const hit = buffers.filter((b) => b.slice(8, 12) === "1000").at(-1);
  if (!hit) throw new Error(`no RTM_NEWLINK in the trace:\n${trace}`);
  return hit;
}

if (sh("ip", ["netns", "add", NS]).status !== 0) throw new Error(`ip netns add ${NS} failed`);
try {
  const out: Record<string, unknown> = {
    captured:
      "strace -f -e trace=sendmsg -e write=3 ip -n <netns> ...; " +
      `${sh("ip", ["-V"]).out.trim()}; kernel ${sh("uname", ["-r"]).out.trim()}`,
  };
  for (const [name, args] of Object.entries(COMMANDS)) {
    const r = sh("strace", ["-f", "-e", "trace=sendmsg", "-e", "write=3", "ip", "-n", NS, ...args]);
    out[name] = { command: `ip ${args.join(" ")}`, message: lastNewlink(r.out) };
  }
  process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
} finally {
  sh("ip", ["netns", "del", NS]);
}
