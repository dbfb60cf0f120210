// Which optional kernel features this machine has, probed in a throwaway netns of our own, so root
// tests of a feature skip with the kernel's own reason where it is missing (this test VM's kernel
// has no ipip, dummy or wireguard modules).
import { run } from "./sh.ts";
import { Topology } from "./topology.ts";

/**
 * Why `ip link add ... type <kind>` fails here (e.g. "Error: Unknown device type."), or undefined
 * when the kernel creates such a link.
 */
export async function missingLinkKind(kind: string): Promise<string | undefined> {
  const topo = new Topology();
  try {
    const ns = await topo.netns("probe");
    const r = await run("ip", ["-n", ns, "link", "add", `${topo.prefix}-k`, "type", kind], { allowFail: true });
    return r.exitCode === 0
      ? undefined
      : `the kernel cannot create links of type ${kind}: ${(r.stderr || r.stdout).trim()}`;
  } finally {
    await topo.cleanup();
  }
}
