/**
 * `weft doctor` with no flanneld flags takes them from the flanneld running in its network
 * namespace: its command line after the `flanneld` role (`/opt/bin/weft flanneld --ip-masq ...`,
 * a `flanneld` link, `bun bin/weft.ts flanneld ...`) and the parts of its environment flanneld reads
 * (FLANNELD_*, NODE_NAME, POD_NAME/POD_NAMESPACE, KUBERNETES_SERVICE_HOST/_PORT). So `kubectl exec`
 * into the DaemonSet's container, or a root shell on the node, needs no flags.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";

export interface FlanneldProcess {
  readonly pid: number;
  /** Its arguments after the flanneld role. */
  readonly args: readonly string[];
  /** What of its environment the doctor uses. */
  readonly env: Readonly<Record<string, string>>;
}

/** The arguments after the `flanneld` role in a NUL-separated command line, or undefined when it is not flanneld. */
export function flanneldArgs(cmdline: string): string[] | undefined {
  const argv = cmdline.split("\0");
  if (argv.at(-1) === "") argv.pop();
  const base = (a: string) => a.slice(a.lastIndexOf("/") + 1).replace(/\.(exe|ts|js)$/, "");
  // the role is the program's own name, or the argument after the multi-call binary (weft, or
  // bun running bin/weft.ts)
  if (base(argv[0] ?? "") === "flanneld") return argv.slice(1);
  let i = 0;
  if (/^(bun|node)$/.test(base(argv[0] ?? ""))) i++;
  if (!base(argv[i] ?? "").startsWith("weft")) return undefined;
  return argv[i + 1] === "flanneld" ? argv.slice(i + 2) : undefined;
}

const ENV_KEPT =
  /^(FLANNELD_[A-Z_]+|NODE_NAME|POD_NAME|POD_NAMESPACE|KUBERNETES_SERVICE_HOST|KUBERNETES_SERVICE_PORT)$/;

/** The environment variables of a NUL-separated environ that flanneld reads. */
export function flanneldEnv(environ: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of environ.split("\0")) {
    const eq = kv.indexOf("=");
    if (eq > 0 && ENV_KEPT.test(kv.slice(0, eq))) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function netnsOf(pid: number | "self"): number | undefined {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino;
  } catch {
    return undefined;
  }
}

/** The flanneld running in this process's network namespace (the oldest when there are several). */
export function findFlanneld(proc = "/proc"): FlanneldProcess | undefined {
  const mine = netnsOf("self");
  const pids = readdirSync(proc)
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .sort((a, b) => a - b);
  for (const pid of pids) {
    if (pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`${proc}/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    const args = flanneldArgs(cmdline);
    if (!args || args.includes("--help") || args.includes("--version")) continue;
    if (mine === undefined || netnsOf(pid) !== mine) continue;
    let env: Record<string, string> = {};
    try {
      env = flanneldEnv(readFileSync(`${proc}/${pid}/environ`, "utf8"));
    } catch {
      // another user's process: its flags are still readable
    }
    return { pid, args, env };
  }
  return undefined;
}
