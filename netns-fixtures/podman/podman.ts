// Podman 4.3 (Debian bookworm) with its CNI network backend, isolated from the system: its own
// storage (--root/--runroot), CONTAINERS_CONF with network_backend "cni", our plugin dirs, a temp
// network_config_dir, cgroupfs under a per-run cgroup parent, file events, file locks. The image is
// imported from Debian's static busybox (no registry here). Everything is torn down by `teardown`.
//
// What this machine needs (found by trying, see conformance/podman.test.ts):
//  - runc, not crun: crun 1.8 refuses cgroup v1/v2 hybrid hosts whose cgroup2 mount has controllers
//    ("cgroups in hybrid mode not supported"), even with cgroups disabled.
//  - explicit ulimits: podman asks for nofile=1048576 for root, but without CAP_SYS_RESOURCE the
//    runtime cannot raise past our hard limit; podman itself lowers RLIMIT_NPROC to 32768 before
//    starting conmon, so nproc must not exceed that either.
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, type RunResult } from "../topology/sh.ts";

const BUSYBOX = "/bin/busybox";
const CGROUP_ROOT = "/sys/fs/cgroup";
/** busybox applets the containers use. */
const APPLETS = ["sh", "ip", "ping", "sleep", "cat", "ls", "nc", "true"];
/** podman lowers its own RLIMIT_NPROC to this before it starts conmon and the runtime. */
const PODMAN_NPROC = 32768;

function which(cmd: string): string | undefined {
  for (const dir of (process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/** Hard limit of a resource from /proc/self/limits ("Max open files", "Max processes"). */
function hardLimit(label: string): number | undefined {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith(label));
  const hard = line?.slice(label.length).trim().split(/\s+/)[1];
  if (hard === undefined) return undefined;
  return hard === "unlimited" ? Number.POSITIVE_INFINITY : Number(hard);
}

/** A hybrid cgroup host whose cgroup2 mount has controllers: crun refuses it, runc copes. */
function hybridWithV2Controllers(): boolean {
  const f = join(CGROUP_ROOT, "unified", "cgroup.controllers");
  return existsSync(f) && readFileSync(f, "utf8").trim() !== "";
}

/**
 * The OCI runtime podman should use here, or why none can work. WEFT_PODMAN_RUNTIME=crun|runc
 * forces one (then the runtime probe tells whether it works on this host).
 */
export function chooseRuntime(): { runtime: string } | { reason: string } {
  const forced = process.env["WEFT_PODMAN_RUNTIME"];
  if (forced) return which(forced) ? { runtime: forced } : { reason: `WEFT_PODMAN_RUNTIME=${forced} is not installed` };
  if (which("runc")) return { runtime: "runc" };
  if (hybridWithV2Controllers()) {
    return {
      reason:
        "cgroup v1/v2 hybrid host with controllers in cgroup2: crun " +
        "refuses it and runc is not installed (scripts/install-podman.sh)",
    };
  }
  if (which("crun")) return { runtime: "crun" };
  return { reason: "no OCI runtime (runc or crun) installed: run scripts/install-podman.sh" };
}

/** Static prerequisites; undefined when podman may be tried. The runtime probe is `PodmanEnv.probe`. */
export function podmanPrerequisiteProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root";
  if (!which("podman")) return "podman is not installed: run scripts/install-podman.sh";
  if (!which("conmon") && !existsSync("/usr/libexec/podman/conmon"))
    return "conmon is not installed: run scripts/install-podman.sh";
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} missing: run scripts/install-podman.sh (busybox-static)`;
  const rt = chooseRuntime();
  return "reason" in rt ? rt.reason : undefined;
}

export interface PodmanEnvOptions {
  /** per-run prefix, names the temp dir and the cgroup parent */
  readonly prefix: string;
  /** cni_plugin_dirs, in CNI_PATH order */
  readonly pluginDirs: readonly string[];
}

/** One isolated podman installation in a temp dir. */
export class PodmanEnv {
  readonly image: string;
  readonly netDir: string;
  private readonly env: Record<string, string>;
  private readonly cgroupParent: string;
  private readonly runtime: string;

  private constructor(
    readonly dir: string,
    private readonly opts: PodmanEnvOptions,
  ) {
    this.image = `localhost/${opts.prefix}-busybox:1`;
    this.netDir = join(dir, "net.d");
    this.cgroupParent = `/${opts.prefix}`;
    const rt = chooseRuntime();
    if ("reason" in rt) throw new Error(rt.reason);
    this.runtime = rt.runtime;
    this.env = {
      CONTAINERS_CONF: join(dir, "containers.conf"),
      CONTAINERS_STORAGE_CONF: join(dir, "storage.conf"),
      CONTAINERS_REGISTRIES_CONF: "/dev/null",
      TMPDIR: join(dir, "tmp-img"),
    };
  }

  /** Make the temp dir, the config files and the busybox image. */
  static async create(opts: PodmanEnvOptions): Promise<PodmanEnv> {
    const dir = mkdtempSync(join(tmpdir(), `${opts.prefix}-podman-`));
    const env = new PodmanEnv(dir, opts);
    try {
      env.writeConfig();
      await env.importImage();
    } catch (e) {
      await env.teardown();
      throw e;
    }
    return env;
  }

  private writeConfig(): void {
    for (const d of ["root", "runroot", "tmp", "tmp-img", "net.d", "rootfs/bin"])
      mkdirSync(join(this.dir, d), { recursive: true });
    const nofile = Math.min(hardLimit("Max open files") ?? 1024, 1048576);
    const nproc = Math.min(hardLimit("Max processes") ?? PODMAN_NPROC, PODMAN_NPROC);
    const q = (s: string) => JSON.stringify(s);
    writeFileSync(
      this.env["CONTAINERS_CONF"] ?? "",
      [
        "[containers]",
        `default_ulimits = [${q(`nofile=${nofile}:${nofile}`)}, ${q(`nproc=${nproc}:${nproc}`)}]`,
        'netns = "private"',
        "[network]",
        'network_backend = "cni"',
        `cni_plugin_dirs = [${this.opts.pluginDirs.map(q).join(", ")}]`,
        `network_config_dir = ${q(this.netDir)}`,
        `default_network = ${q(`${this.opts.prefix}-default`)}`,
        "[engine]",
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = ${q(join(this.dir, "events.log"))}`,
        `tmp_dir = ${q(join(this.dir, "tmp"))}`,
        `volume_path = ${q(join(this.dir, "volumes"))}`,
        `static_dir = ${q(join(this.dir, "root", "libpod"))}`,
        `runtime = ${q(this.runtime)}`,
        'lock_type = "file"',
        "",
      ].join("\n"),
    );
    writeFileSync(
      this.env["CONTAINERS_STORAGE_CONF"] ?? "",
      `[storage]\ndriver = "vfs"\ngraphroot = ${q(join(this.dir, "root"))}\n` +
        `runroot = ${q(join(this.dir, "runroot"))}\n`,
    );
  }

  private async importImage(): Promise<void> {
    const rootfs = join(this.dir, "rootfs");
    copyFileSync(BUSYBOX, join(rootfs, "bin", "busybox"));
    for (const a of APPLETS) symlinkSync("busybox", join(rootfs, "bin", a));
    const tar = join(this.dir, "busybox.tar");
    execFileSync("tar", ["-C", rootfs, "-cf", tar, "."]);
    await this.podman(["import", "--change", 'CMD ["/bin/sh"]', tar, this.image]);
  }

  /** Run podman with this installation's storage and config. */
  podman(args: readonly string[], opts: { readonly allowFail?: boolean } = {}): Promise<RunResult> {
    const root = ["--root", join(this.dir, "root"), "--runroot", join(this.dir, "runroot")];
    return run("podman", [...root, ...args], { env: this.env, timeoutMs: 60_000, ...opts });
  }

  /** `podman run -d` a busybox sleeping forever on a network; returns the full container ID. */
  async runSleeper(name: string, network: string, opts: { readonly allowFail?: boolean } = {}): Promise<RunResult> {
    return this.podman(
      [
        "run",
        "-d",
        "--name",
        name,
        "--cgroup-parent",
        this.cgroupParent,
        "--network",
        network,
        this.image,
        "sleep",
        "100000",
      ],
      opts,
    );
  }

  /** Write `<name>.conflist` into network_config_dir. */
  writeConflist(conflist: { readonly name: string } & Record<string, unknown>): void {
    writeFileSync(join(this.netDir, `${conflist.name}.conflist`), JSON.stringify(conflist, null, 2));
  }

  /** Runs one container on `--network none` to see whether this host can run podman at all. */
  async probe(): Promise<string | undefined> {
    const r = await this.podman(
      ["run", "--rm", "--cgroup-parent", this.cgroupParent, "--network", "none", this.image, "true"],
      { allowFail: true },
    );
    if (r.exitCode === 0) return undefined;
    return `podman run failed (${r.exitCode}): ${r.stderr.trim() || r.stdout.trim()}`;
  }

  /**
   * Remove every container (so podman runs CNI DEL), the image store, our cgroup parent, and the
   * temp dir. Mounts left under the temp dir are lazily unmounted before anything is deleted.
   */
  async teardown(): Promise<void> {
    await this.podman(["rm", "-a", "-f", "-t", "0"], { allowFail: true });
    await this.podman(["rmi", "-a", "-f"], { allowFail: true });
    removeCgroupTree(this.opts.prefix);
    const mounts = readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1] ?? "")
      .filter((m) => m.startsWith(`${this.dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run("umount", ["-l", m], { allowFail: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** rmdir `/sys/fs/cgroup/<controller>/<name>` and everything below it, deepest first. */
export function removeCgroupTree(name: string): void {
  if (!existsSync(CGROUP_ROOT)) return;
  const rmTree = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmTree(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      // busy (a process still inside) or already gone: nothing more we may do
    }
  };
  for (const c of readdirSync(CGROUP_ROOT)) {
    const top = join(CGROUP_ROOT, c, name);
    if (existsSync(top)) rmTree(top);
  }
  const top = join(CGROUP_ROOT, name);
  if (existsSync(top)) rmTree(top);
}

/** libcni's cache dir; podman 4.3 does not move it. */
export const CNI_CACHE_DIR = "/var/lib/cni/results";

/** Files libcni cached for a network (`<network>-<containerID>-<ifname>`). */
export function cachedResults(network: string): string[] {
  if (!existsSync(CNI_CACHE_DIR)) return [];
  return readdirSync(CNI_CACHE_DIR).filter((f) => f.startsWith(`${network}-`));
}

/** `iptables-save -t nat` lines whose comment names this CNI network. */
export async function natRulesFor(network: string): Promise<string[]> {
  const r = await run("iptables-save", ["-t", "nat"]);
  return r.stdout.split("\n").filter((l) => l.includes(`name: \\"${network}\\"`));
}

/**
 * Remove what a run may leave in the root netns after a failure: nat rules and CNI-* chains
 * commented with one of our network names, cached results, netns files, and our bridges. Touches
 * nothing that is not named after our per-run networks/bridges.
 */
export async function removeHostLeftovers(opts: {
  readonly networks: readonly string[];
  readonly bridges: readonly string[];
  readonly netnsPaths: readonly string[];
}): Promise<void> {
  for (const net of opts.networks) {
    const lines = await natRulesFor(net);
    const chains = new Set<string>();
    for (const l of lines) {
      const [, chain] = /^-A (\S+) /.exec(l) ?? [];
      const [, target] = / -j (CNI-\S+)/.exec(l) ?? [];
      if (target) chains.add(target);
      if (chain?.startsWith("CNI-")) chains.add(chain);
      else if (chain) await deleteNatRuleByComment(chain, net);
    }
    for (const c of chains) {
      await run("iptables", ["-t", "nat", "-F", c], { allowFail: true });
      await run("iptables", ["-t", "nat", "-X", c], { allowFail: true });
    }
    for (const f of cachedResults(net)) rmSync(join(CNI_CACHE_DIR, f), { force: true });
  }
  for (const p of opts.netnsPaths) {
    if (!existsSync(p)) continue;
    await run("umount", [p], { allowFail: true });
    rmSync(p, { force: true });
  }
  for (const b of opts.bridges) await run("ip", ["link", "del", b], { allowFail: true });
}

async function deleteNatRuleByComment(chain: string, network: string): Promise<void> {
  const r = await run("iptables", ["-t", "nat", "-L", chain, "-n", "--line-numbers"], { allowFail: true });
  const nums = r.stdout
    .split("\n")
    .filter((l) => l.includes(`name: "${network}"`))
    .map((l) => Number(l.split(/\s+/)[0]))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => b - a);
  for (const n of nums) await run("iptables", ["-t", "nat", "-D", chain, String(n)], { allowFail: true });
}

/** What a container on a CNI network looks like from inside, from `podman inspect` and libcni's cache. */
export interface ContainerView {
  readonly name: string;
  readonly id: string;
  /** eth0's IPv4 address, "10.244.250.2/24", and without the prefix */
  readonly cidr: string;
  readonly ip: string;
  readonly mac: string;
  readonly mtu: number;
  readonly txQueueLen: number;
  /** `ip route` lines inside the container */
  readonly routes: readonly string[];
  /** podman inspect's view of this network */
  readonly inspect: { readonly ip: string; readonly prefixLen: number; readonly gateway: string; readonly mac: string };
  /** the netns path podman made (NetworkSettings.SandboxKey) */
  readonly sandbox: string;
  /** the CNI result libcni cached for podman */
  readonly result: Record<string, unknown>;
  /** the host side veth named in that result */
  readonly hostVeth: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function field(obj: unknown, ...path: string[]): unknown {
  let cur = obj;
  for (const k of path) cur = isRecord(cur) ? cur[k] : undefined;
  return cur;
}

/** Collect a container's network view through `podman exec`/`inspect` and the libcni cache. */
export async function containerView(env: PodmanEnv, name: string, id: string, network: string): Promise<ContainerView> {
  const exec = async (...cmd: string[]) => (await env.podman(["exec", name, ...cmd])).stdout;
  const addr = await exec("ip", "addr", "show", "eth0");
  const cidr = /inet (\d+\.\d+\.\d+\.\d+\/\d+)/.exec(addr)?.[1] ?? "";
  const inspected: unknown = JSON.parse((await env.podman(["inspect", "--format", "json", name])).stdout);
  const settings = field(Array.isArray(inspected) ? inspected[0] : undefined, "NetworkSettings");
  const net = field(settings, "Networks", network);
  const cached = JSON.parse(readFileSync(join(CNI_CACHE_DIR, `${network}-${id}-eth0`), "utf8")) as unknown;
  const result = field(cached, "result");
  const ifaces = field(result, "interfaces");
  const hostVeth = Array.isArray(ifaces) ? String(field(ifaces[1], "name") ?? "") : "";
  return {
    name,
    id,
    cidr,
    ip: cidr.split("/")[0] ?? "",
    mac: /link\/ether (\S+)/.exec(addr)?.[1] ?? "",
    mtu: Number(/mtu (\d+)/.exec(addr)?.[1]),
    txQueueLen: Number((await exec("cat", "/sys/class/net/eth0/tx_queue_len")).trim()),
    routes: (await exec("ip", "route"))
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean),
    inspect: {
      ip: String(field(net, "IPAddress") ?? ""),
      prefixLen: Number(field(net, "IPPrefixLen")),
      gateway: String(field(net, "Gateway") ?? ""),
      mac: String(field(net, "MacAddress") ?? ""),
    },
    sandbox: String(field(settings, "SandboxKey") ?? ""),
    result: isRecord(result) ? result : {},
    hostVeth,
  };
}
