/**
 * `weft doctor`'s command line: its own flags (below) and, for everything else, flanneld's flags and
 * FLANNELD_* environment, parsed by flanneld's own parser, so the doctor reads the same store, subnet
 * file and ports as the daemon it checks (`weft doctor --kube-subnet-mgr`, `--etcd-endpoints=...`).
 */
import { FlagError, parseFlags, type FlannelFlags } from "../flags.ts";
import { DEFAULT_IPAM_DATA_DIR } from "../ipam-view.ts";

export interface DoctorOptions {
  readonly json: boolean;
  readonly help: boolean;
  /** Where the runtime reads CNI network configs. */
  readonly cniConfDir: string;
  /** Where the runtime finds CNI plugins (CNI_PATH). */
  readonly cniPath: readonly string[];
  /** The runtime's CNI result cache (libcni's cacheDir). */
  readonly cniCacheDir: string;
  /** host-local's data dir; undefined: the flannel conflist's `ipam.dataDir`, else host-local's default. */
  readonly ipamDataDir: string | undefined;
  /** How long a peer has to answer a probe. */
  readonly probeTimeoutMs: number;
}

interface Spec {
  readonly key: keyof DoctorOptions;
  readonly kind: "bool" | "string" | "list" | "int";
  readonly help: string;
}

const SPECS: Readonly<Record<string, Spec>> = {
  json: { key: "json", kind: "bool", help: "print the checks as JSON instead of a table" },
  "cni-conf-dir": {
    key: "cniConfDir",
    kind: "string",
    help: "CNI config directory (default $NETCONFPATH or /etc/cni/net.d)",
  },
  "cni-path": {
    key: "cniPath",
    kind: "list",
    help: "CNI plugin directories, colon-separated (default $CNI_PATH or /opt/cni/bin)",
  },
  "cni-cache-dir": {
    key: "cniCacheDir",
    kind: "string",
    help: "the runtime's CNI result cache (default $CNI_CACHE_DIR or /var/lib/cni)",
  },
  "ipam-data-dir": {
    key: "ipamDataDir",
    kind: "string",
    help: `host-local data dir (default: the flannel conflist's ipam.dataDir, else ${DEFAULT_IPAM_DATA_DIR})`,
  },
  "probe-timeout": {
    key: "probeTimeoutMs",
    kind: "int",
    help: "milliseconds each peer has to answer a probe (default 1500)",
  },
};

export function defaultOptions(env: Readonly<Record<string, string | undefined>>): DoctorOptions {
  return {
    json: false,
    help: false,
    cniConfDir: env["NETCONFPATH"] || "/etc/cni/net.d",
    cniPath: (env["CNI_PATH"] || "/opt/cni/bin").split(":").filter((d) => d !== ""),
    cniCacheDir: env["CNI_CACHE_DIR"] || "/var/lib/cni",
    ipamDataDir: undefined,
    probeTimeoutMs: 1500,
  };
}

/** Split the doctor's flags from flanneld's; errors name the flag (FlagError, exit 2). */
export function parseDoctorArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { options: DoctorOptions; flags: FlannelFlags; flanneldArgs: readonly string[] } {
  const out: Record<string, unknown> = { ...defaultOptions(env) };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    if (arg === "-h" || arg === "--help" || arg === "-help") {
      out["help"] = true;
      continue;
    }
    const spec = arg.startsWith("-") ? SPECS[name] : undefined;
    if (!spec) {
      rest.push(arg);
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = body.slice(eq + 1);
    else if (spec.kind === "bool") raw = "true";
    else {
      const next = argv[++i];
      if (next === undefined) throw new FlagError(`flag needs an argument: --${name} (write --${name}=VALUE)`);
      raw = next;
    }
    if (spec.kind === "bool") {
      if (!/^(true|false|1|0)$/i.test(raw)) throw new FlagError(`invalid boolean "${raw}" for --${name}`);
      out[spec.key] = /^(true|1)$/i.test(raw);
    } else if (spec.kind === "int") {
      if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new FlagError(`--${name}=${raw}: give a positive whole number`);
      out[spec.key] = Number(raw);
    } else if (spec.kind === "list") out[spec.key] = raw.split(":").filter((d) => d !== "");
    else out[spec.key] = raw;
  }
  const options = out as unknown as DoctorOptions;
  return { options, flags: parseFlags(rest, env), flanneldArgs: rest };
}

export function doctorHelp(): string {
  const width = Math.max(...Object.keys(SPECS).map((n) => n.length)) + 2;
  return [
    "Usage: weft doctor [doctor flags] [flanneld flags]",
    "",
    "Checks this node's flannel network and prints what is wrong and how to fix it; exit 0 when",
    "no check fails, 1 otherwise. Give the flags flanneld runs with (or its FLANNELD_* environment):",
    "the doctor reads the same store, subnet file, CNI socket and health port. Without any, it takes",
    "those of the flanneld running in its network namespace (its command line and environment).",
    "",
    "Doctor flags:",
    ...Object.entries(SPECS).map(([n, s]) => `  --${n.padEnd(width)}${s.help}`),
    "",
    "flanneld flags: see `weft flanneld --help`.",
    "",
  ].join("\n");
}
