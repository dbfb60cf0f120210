/**
 * Root-test driver (bun, run inside a scratch netns): exercises kernel-net.ts's per-command ifindex
 * cache against the real kernel and prints one JSON line.
 *   stale <link>          look the (veth) link up, recreate it behind the cache's back (iproute2), set it up
 *   error <link> <other>  look both up, enslave <link> to <other> (not a bridge): the kernel refuses
 *   route <netns path> <gw> <dev>...  as a pod: add a default route via <gw> through each <dev>
 */
import { spawnSync } from "node:child_process";
import { kernelHost, openKernelPod } from "../kernel-net.ts";
import { KERNEL as kernel } from "../plugin.ts";

function ip(...args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr}`);
}

const [scenario = "", link = "", other = ""] = process.argv.slice(2);
const host = kernelHost(kernel);
try {
  if (scenario === "route") {
    const pod = openKernelPod(kernel, link);
    const errors: string[] = [];
    for (const dev of process.argv.slice(5)) {
      try {
        pod.routeAdd({ dst: "0.0.0.0/0", gw: other, dev });
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    pod.close();
    process.stdout.write(`${JSON.stringify({ errors })}\n`);
  } else if (scenario === "stale") {
    const before = host.linkByName(link)?.index;
    ip("link", "del", link);
    ip("link", "add", link, "type", "veth", "peer", "name", `${link}p`);
    host.setUp(link);
    process.stdout.write(`${JSON.stringify({ before, after: host.linkByName(link)?.index })}\n`);
  } else if (scenario === "error") {
    const target = host.linkByName(other);
    host.linkByName(link);
    try {
      host.setMaster(link, target?.index ?? 0);
      process.stdout.write(`${JSON.stringify({ error: null })}\n`);
    } catch (e) {
      process.stdout.write(
        `${JSON.stringify({ error: { message: (e as Error).message, code: (e as { code?: string }).code } })}\n`,
      );
    }
  }
} finally {
  host.close();
}
