/**
 * The runtime's side of CNI on this node: which config file it reads first, whether every plugin
 * that config chains is on CNI_PATH and speaks its version, IPAM reservations whose container is
 * gone, and flanneld's CNI server answering STATUS.
 */
import { dirname, join } from "node:path";
import { versionAtLeast } from "../../../libcni/version.ts";
import { containsIp, formatCidr, parseIp, type IpNet } from "../../../net/prefix.ts";
import { cniSocketPath } from "../../flags.ts";
import { DEFAULT_IPAM_DATA_DIR, type IpamReservation } from "../../ipam-view.ts";
import { errorMessage } from "../../log.ts";
import { fail, ok, skip, warn, type CheckResult } from "../check.ts";
import type { DoctorContext } from "../context.ts";
import { cniChoice, envSubnets, fileName, type CniConfFile, type NodeFacts } from "../facts.ts";

export function cniConfigCheck(ctx: DoctorContext, f: NodeFacts): CheckResult {
  const title = "CNI config";
  const dir = ctx.options.cniConfDir;
  const { first, flannel } = cniChoice(f);
  if (!first) return fail("cni-config", title, `no CNI config in ${dir}`, installFix(dir));
  if (!flannel) {
    return fail(
      "cni-config",
      title,
      `no config in ${dir} uses the flannel plugin (the runtime reads ${fileName(first.file)}, ` +
        `${first.types ? `plugins ${first.types.join(", ")}` : first.error})`,
      installFix(dir),
    );
  }
  if (first !== flannel) {
    const what = first.error
      ? `which does not parse: ${first.error}`
      : `network "${first.name}" (${first.types?.join(", ")})`;
    return fail(
      "cni-config",
      title,
      `the runtime reads the first file by name: ${fileName(first.file)}, ${what}, not ${fileName(flannel.file)}`,
      `move ${first.file} out of ${dir} (or rename ${fileName(flannel.file)} to sort first, e.g. 10-flannel.conflist)`,
    );
  }
  if (flannel.error) return fail("cni-config", title, `${fileName(flannel.file)}: ${flannel.error}`, "fix the file");
  const subnetFile = flannel.flannel?.["subnetFile"];
  if (typeof subnetFile === "string" && subnetFile !== "" && subnetFile !== ctx.flags.subnetFile)
    return fail(
      "cni-config",
      title,
      `${fileName(flannel.file)} reads subnetFile ${subnetFile}, but flanneld writes ${ctx.flags.subnetFile}`,
      "make them the same path (the plugin's subnetFile and flanneld's --subnet-file)",
    );
  const v = flannel.cniVersion ?? "";
  if (v !== "" && !atLeast(v, "1.1.0"))
    return warn(
      "cni-config",
      title,
      `${fileName(flannel.file)} (network "${flannel.name}", ${flannel.types?.join(" -> ")}) has cniVersion ${v}`,
      'set "cniVersion": "1.1.0" so the runtime can use STATUS and GC (every plugin of the chain must support it)',
    );
  return ok(
    "cni-config",
    title,
    `${fileName(flannel.file)}: network "${flannel.name}", cniVersion ${v}, ${flannel.types?.join(" -> ")}`,
  );
}

function installFix(dir: string): string {
  return (
    `install the flannel conflist in ${dir} ` +
    "(kube-weft.yml's install-cni init container writes 10-flannel.conflist)"
  );
}

function atLeast(v: string, min: string): boolean {
  try {
    return versionAtLeast(v, min);
  } catch {
    return false;
  }
}

function findPlugin(ctx: DoctorContext, type: string): string | undefined {
  for (const dir of ctx.options.cniPath) {
    const p = join(dir, type);
    if (ctx.files.isExecutable(p)) return p;
  }
  return undefined;
}

export async function cniPluginsCheck(ctx: DoctorContext, f: NodeFacts): Promise<CheckResult> {
  const title = "CNI plugins";
  const conf = cniChoice(f).flannel;
  if (!conf?.flannel || !conf.types) return skip("cni-plugins", title, "no flannel config to follow");
  const where = ctx.options.cniPath.join(":");
  const version = conf.cniVersion ?? "";
  const delegates = ctx.flannelDelegates(conf.flannel);
  const problems: string[] = [];
  const found: string[] = [];
  const check = async (type: string, inProcess: boolean) => {
    const path = findPlugin(ctx, type);
    if (!path) {
      if (inProcess) found.push(`${type} (in-process)`);
      else problems.push(`${type} is not in ${where}`);
      return;
    }
    const v = await ctx.pluginVersions(path);
    if ("error" in v) problems.push(`${path} does not answer VERSION: ${v.error}`);
    else if (version !== "" && !v.versions.includes(version))
      problems.push(`${path} does not support cniVersion ${version} (it has ${v.versions.join(", ")})`);
    else found.push(type);
  };
  for (const t of conf.types) await check(t, false);
  // The flannel plugin runs its delegate in-process when CNI_PATH has none (Weft's bridge and host-local).
  const ours = new Set(["bridge", "host-local"]);
  await check(delegates.plugin, ours.has(delegates.plugin));
  if (delegates.ipam !== delegates.plugin) await check(delegates.ipam, ours.has(delegates.ipam));
  if (problems.length > 0)
    return fail(
      "cni-plugins",
      title,
      problems.join("; "),
      `install the missing plugins in ${ctx.options.cniPath[0] ?? "/opt/cni/bin"} (containernetworking-plugins for ` +
        "portmap and friends), or drop them from the conflist, or lower its cniVersion to one they support",
    );
  return ok("cni-plugins", title, `${found.join(", ")} on ${where}, all speak ${version || "the default version"}`);
}

/** host-local's data dir: --ipam-data-dir, else the flannel config's ipam.dataDir, else the default. */
function ipamDataDir(ctx: DoctorContext, conf: CniConfFile | undefined): string {
  if (ctx.options.ipamDataDir) return ctx.options.ipamDataDir;
  const ipam = conf?.flannel?.["ipam"];
  const d = typeof ipam === "object" && ipam !== null ? (ipam as Record<string, unknown>)["dataDir"] : undefined;
  return typeof d === "string" && d !== "" ? d : DEFAULT_IPAM_DATA_DIR;
}

function inAny(nets: readonly IpNet[], ip: string): boolean {
  const a = parseIp(ip);
  return a !== undefined && nets.some((n) => containsIp(n, a.family, a.ip));
}

/**
 * Whether a cached attachment's netns is gone. Judged only where this process sees the runtime's
 * netns directory (in flanneld's container /var/run/netns is usually not mounted) and not for
 * /proc/<pid>/ns/net paths (another PID namespace shows other processes).
 */
function netnsGone(ctx: DoctorContext, netns: string): boolean {
  if (netns === "" || netns.startsWith("/proc/")) return false;
  return ctx.files.exists(dirname(netns)) && !ctx.files.exists(netns);
}

/**
 * Reservations of this node's subnet whose container the runtime no longer has: no attachment in
 * the runtime's result cache, or one whose network namespace is gone.
 */
export function ipamCheck(ctx: DoctorContext, f: NodeFacts): CheckResult {
  const title = "IPAM reservations";
  const conf = cniChoice(f).flannel;
  const mine = envSubnets(f.subnetEnv);
  const nets = [mine.subnet, mine.subnetV6].filter((n): n is IpNet => n !== undefined);
  if (nets.length === 0) return skip("ipam", title, "needs subnet.env");
  const dataDir = ipamDataDir(ctx, conf);
  const name = conf?.name;
  const dirs = ctx.ipam.networks(dataDir).filter((d) => name === undefined || d.network === name);
  let cached: ReturnType<DoctorContext["cachedAttachments"]>;
  try {
    cached = ctx.cachedAttachments();
  } catch (e) {
    return skip("ipam", title, `the result cache ${ctx.options.cniCacheDir} cannot be read: ${errorMessage(e)}`);
  }
  const stale: { dir: string; r: IpamReservation; why: string }[] = [];
  let used = 0;
  for (const d of dirs) {
    for (const r of d.reservations) {
      if (!inAny(nets, r.ip)) continue;
      used++;
      const a = cached.find(
        (c) =>
          c.network === d.network &&
          c.containerId === r.containerID &&
          (r.ifname === undefined || c.ifName === r.ifname),
      );
      if (!a) stale.push({ dir: d.dir, r, why: "not in the runtime's result cache" });
      else if (netnsGone(ctx, a.netns)) stale.push({ dir: d.dir, r, why: `netns ${a.netns} is gone` });
    }
  }
  const pool = nets.map((n) => ctx.ipam.poolSize(formatCidr(n))).reduce((a, b) => a + b, 0);
  const usage = `${used} of ${pool} addresses of ${nets.map(formatCidr).join(", ")} reserved in ${dataDir}`;
  if (stale.length > 0) {
    const list = stale
      .slice(0, 5)
      .map((s) => `${s.r.ip} (container ${s.r.containerID.slice(0, 12)}: ${s.why})`)
      .join(", ");
    return fail(
      "ipam",
      title,
      `${stale.length} reservation(s) belong to containers that are gone: ${list}` +
        `${stale.length > 5 ? ", ..." : ""}; ${usage}`,
      "let the runtime run CNI GC (containerd 2 does at start), or remove the files once sure the containers " +
        "are gone: " +
        `rm ${stale
          .slice(0, 5)
          .map((s) => join(s.dir, s.r.ip))
          .join(" ")}`,
    );
  }
  if (pool > 0 && used / pool >= 0.9)
    return warn(
      "ipam",
      title,
      usage,
      "the pool is nearly used up: move pods, or give nodes larger subnets (SubnetLen)",
    );
  return ok("ipam", title, usage);
}

export async function cniServerCheck(ctx: DoctorContext, f: NodeFacts): Promise<CheckResult> {
  const title = "CNI server";
  const socket = cniSocketPath(ctx.flags);
  if (socket === undefined) return skip("cni-server", title, "off (--cni-socket=): every flannel exec runs its call");
  const conf = cniChoice(f).flannel;
  const plugin = { ...(conf?.flannel ?? { type: "flannel", name: "cbr0" }), cniVersion: "1.1.0" };
  if (!ctx.files.exists(socket))
    return warn(
      "cni-server",
      title,
      `nothing at ${socket}: flannel execs run their calls themselves (slower, and each loads the plugin code)`,
      "is flanneld running with this --subnet-file / --cni-socket? it opens the socket once subnet.env is written",
    );
  const env = { CNI_COMMAND: "STATUS", CNI_PATH: ctx.options.cniPath.join(":") };
  const a = await ctx.relay(socket, env, JSON.stringify(plugin));
  if (!a.answered)
    return fail(
      "cni-server",
      title,
      `${socket} did not take a STATUS call: ${a.why}`,
      "restart flanneld; its log says why the CNI server stopped (a socket left by a dead daemon is replaced at start)",
    );
  if (a.exitCode !== 0) {
    let msg = a.stdout.trim();
    try {
      const e = JSON.parse(a.stdout) as { msg?: string; details?: string };
      msg = [e.msg, e.details].filter(Boolean).join(": ");
    } catch {
      /* not JSON */
    }
    return fail(
      "cni-server",
      title,
      `STATUS through ${socket} says the network is not ready: ${msg}`,
      "see the message",
    );
  }
  return ok("cni-server", title, `${socket} answered STATUS: ready`);
}
