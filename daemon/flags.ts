/**
 * flanneld command line: ONE table of flags (name, FLANNELD_* env variable, type, default, help),
 * parsed with Go `flag` syntax (`-f`, `--f`, `--f=v`, `--f v`, bools `--f` / `--f=false`), then
 * `FLANNELD_*` environment variables applied to the flags not given on the command line.
 */
import { normalizeAnnotationPrefix } from "./subnet/annotations.ts";

/** Every flanneld setting, typed. Field names are the camel-cased flag names. */
export interface FlannelFlags {
  readonly etcdEndpoints: string;
  readonly etcdPrefix: string;
  readonly etcdKeyfile: string;
  readonly etcdCertfile: string;
  readonly etcdCafile: string;
  readonly etcdUsername: string;
  readonly etcdPassword: string;
  readonly kubeSubnetMgr: boolean;
  readonly kubeApiUrl: string;
  readonly kubeconfigFile: string;
  readonly kubeAnnotationPrefix: string;
  readonly iface: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly ifaceCanReach: string;
  readonly publicIp: string;
  readonly publicIpv6: string;
  readonly subnetFile: string;
  readonly subnetLeaseRenewMargin: number;
  readonly ipMasq: boolean;
  readonly ipMasqFullyRandomDisable: boolean;
  readonly iptablesResync: number;
  readonly iptablesForwardRules: boolean;
  readonly ipBlackholeRoute: boolean;
  readonly netConfigPath: string;
  readonly setNodeNetworkUnavailable: boolean;
  readonly cniSocket: string;
  readonly healthzIp: string;
  readonly healthzPort: number;
  readonly version: boolean;
  readonly help: boolean;
  readonly v: number;
  readonly vmodule: string;
  readonly logBacktraceAt: string;
}

/** The default of --cni-socket: cni.sock in the directory of --subnet-file. */
export const CNI_SOCKET_BESIDE_SUBNET_FILE = "<dir of --subnet-file>/cni.sock";

/** Where the CNI server listens, or undefined when it is off (--cni-socket=""). */
export function cniSocketPath(f: Pick<FlannelFlags, "cniSocket" | "subnetFile">): string | undefined {
  if (f.cniSocket === "") return undefined;
  if (f.cniSocket !== CNI_SOCKET_BESIDE_SUBNET_FILE) return f.cniSocket;
  const slash = f.subnetFile.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : f.subnetFile.slice(0, slash);
  return `${dir === "/" ? "" : dir}/cni.sock`;
}

type Key = keyof FlannelFlags;
type Kind = "string" | "bool" | "int" | "list";

export interface FlagSpec {
  /** Name on the command line, without dashes. */
  readonly flag: string;
  readonly key: Key;
  /** Environment variable applied when the flag is not on the command line ("" = none). */
  readonly env: string;
  readonly kind: Kind;
  readonly default: string | boolean | number | readonly string[];
  readonly help: string;
}

function spec<K extends Key>(flag: string, key: K, def: FlannelFlags[K], help: string, env?: string): FlagSpec {
  const kind: Kind = Array.isArray(def)
    ? "list"
    : typeof def === "boolean"
      ? "bool"
      : typeof def === "number"
        ? "int"
        : "string";
  return { flag, key, env: env ?? `FLANNELD_${flag.toUpperCase().replace(/-/g, "_")}`, kind, default: def, help };
}

export const FLAGS: readonly FlagSpec[] = [
  spec(
    "etcd-endpoints",
    "etcdEndpoints",
    "http://127.0.0.1:4001,http://127.0.0.1:2379",
    "comma-separated list of etcd endpoints",
  ),
  spec("etcd-prefix", "etcdPrefix", "/coreos.com/network", "etcd prefix of the network config and subnet leases"),
  spec("etcd-keyfile", "etcdKeyfile", "", "TLS client key file for etcd (TLS is used only with both key and cert)"),
  spec("etcd-certfile", "etcdCertfile", "", "TLS client certificate file for etcd"),
  spec("etcd-cafile", "etcdCafile", "", "CA bundle that signed the etcd server certificates"),
  spec("etcd-username", "etcdUsername", "", "etcd user name for authentication"),
  spec("etcd-password", "etcdPassword", "", "etcd password for authentication"),
  spec(
    "kube-subnet-mgr",
    "kubeSubnetMgr",
    false,
    "use the Kubernetes API (node podCIDR + annotations) instead of etcd",
  ),
  spec("kube-api-url", "kubeApiUrl", "", "Kubernetes API server URL (default: in-cluster configuration)"),
  spec(
    "kubeconfig-file",
    "kubeconfigFile",
    "",
    "kubeconfig file to reach the API server (default: in-cluster configuration)",
  ),
  spec(
    "kube-annotation-prefix",
    "kubeAnnotationPrefix",
    "flannel.alpha.coreos.com",
    "prefix of the node annotations flannel reads and writes",
  ),
  spec(
    "iface",
    "iface",
    [],
    "interface name or IP to use for inter-host traffic; repeat to give fallbacks, first match wins",
  ),
  spec(
    "iface-regex",
    "ifaceRegex",
    [],
    "regex matched against interface IPs then names, tried after every --iface; repeatable",
  ),
  spec("iface-can-reach", "ifaceCanReach", "", "use the interface of the route to this IP"),
  spec("public-ip", "publicIp", "", "IPv4 address other hosts reach this one at (default: the interface address)"),
  spec("public-ipv6", "publicIpv6", "", "IPv6 address other hosts reach this one at (default: the interface address)"),
  spec(
    "subnet-file",
    "subnetFile",
    "/run/flannel/subnet.env",
    "file the acquired subnet is written to (read by the flannel CNI plugin)",
  ),
  spec(
    "subnet-lease-renew-margin",
    "subnetLeaseRenewMargin",
    60,
    "renew the etcd lease this many minutes before it expires (1..1439)",
  ),
  spec("ip-masq", "ipMasq", false, "masquerade traffic leaving the flannel network"),
  spec(
    "ip-masq-fully-random-disable",
    "ipMasqFullyRandomDisable",
    false,
    "do not use --random-fully in the masquerade rules",
  ),
  spec("iptables-resync", "iptablesResync", 5, "seconds between checks that the iptables rules are still in place"),
  spec("iptables-forward-rules", "iptablesForwardRules", true, "add FORWARD ACCEPT rules for the flannel network"),
  spec("ip-blackhole-route", "ipBlackholeRoute", false, "add a blackhole route for this node's subnet"),
  spec(
    "net-config-path",
    "netConfigPath",
    "/etc/kube-flannel/net-conf.json",
    "network config file (with --kube-subnet-mgr)",
  ),
  spec(
    "set-node-network-unavailable",
    "setNodeNetworkUnavailable",
    true,
    "set the node condition NetworkUnavailable=False once running (kube mode)",
  ),
  spec(
    "cni-socket",
    "cniSocket",
    CNI_SOCKET_BESIDE_SUBNET_FILE,
    "unix socket the flannel CNI plugin hands its calls to; empty turns the CNI server off",
  ),
  spec("healthz-ip", "healthzIp", "0.0.0.0", "address the /healthz and /readyz server listens on"),
  spec("healthz-port", "healthzPort", 0, "port of the /healthz and /readyz server (0 = disabled)"),
  spec("version", "version", false, "print the version and exit"),
  spec("help", "help", false, "print this help and exit", ""),
  spec("v", "v", 0, "log verbosity; debug lines are printed at 1 and above"),
  spec("vmodule", "vmodule", "", "accepted for compatibility with klog, ignored"),
  spec("log_backtrace_at", "logBacktraceAt", "", "accepted for compatibility with klog, ignored"),
];

const BY_NAME = new Map<string, FlagSpec>(FLAGS.map((f) => [f.flag, f]));
BY_NAME.set("h", BY_NAME.get("help") as FlagSpec);

/** A command line or environment mistake; the message names the flag and the fix. */
export class FlagError extends Error {
  override readonly name = "FlagError";
}

type Mutable = { -readonly [K in Key]: FlannelFlags[K] };

function convert(f: FlagSpec, raw: string, source: string): string | boolean | number {
  if (f.kind === "bool") {
    const v = raw.toLowerCase();
    if (["1", "t", "true"].includes(v)) return true;
    if (["0", "f", "false"].includes(v)) return false;
    throw new FlagError(`invalid boolean ${JSON.stringify(raw)} for ${source}: use true or false`);
  }
  if (f.kind === "int") {
    if (!/^[+-]?\d+$/.test(raw.trim()))
      throw new FlagError(`invalid number ${JSON.stringify(raw)} for ${source}: give a whole number`);
    return Number(raw.trim());
  }
  return raw;
}

function assign(out: Mutable, f: FlagSpec, raw: string, source: string, listFresh: Set<Key>): void {
  if (f.kind === "list") {
    const prev = listFresh.has(f.key) ? (out[f.key] as readonly string[]) : [];
    listFresh.add(f.key);
    (out as Record<Key, unknown>)[f.key] = [...prev, raw];
    return;
  }
  (out as Record<Key, unknown>)[f.key] = convert(f, raw, source);
}

/** Defaults of every flag. */
export function defaultFlags(): FlannelFlags {
  const out: Record<string, unknown> = {};
  for (const f of FLAGS) out[f.key] = Array.isArray(f.default) ? [...f.default] : f.default;
  return out as unknown as FlannelFlags;
}

/** Parse argv (without the program name) and apply `env` to flags not given on the command line. */
export function parseFlags(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): FlannelFlags {
  const out = defaultFlags() as Mutable;
  const given = new Set<Key>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") {
      if (i + 1 < argv.length)
        throw new FlagError(
          `unexpected argument ${JSON.stringify(argv[i + 1])}: flanneld takes only flags (see --help)`,
        );
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      throw new FlagError(`unexpected argument ${JSON.stringify(arg)}: flanneld takes only flags (see --help)`);
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const f = BY_NAME.get(name);
    if (!f) throw new FlagError(`flag provided but not defined: -${name} (see --help for the list of flags)`);
    let raw: string;
    if (eq >= 0) raw = body.slice(eq + 1);
    else if (f.kind === "bool") raw = "true";
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new FlagError(`flag needs an argument: --${name} (write --${name}=VALUE)`);
      raw = next;
      i++;
    }
    assign(out, f, raw, `--${f.flag}`, given);
    given.add(f.key);
  }
  for (const f of FLAGS) {
    if (given.has(f.key) || f.env === "") continue;
    const raw = env[f.env];
    if (raw === undefined || raw === "") continue;
    assign(out, f, raw, `${f.env} (environment, for --${f.flag})`, new Set());
  }
  validateFlags(out);
  return out;
}

/** Range and format checks that need no I/O. */
export function validateFlags(f: FlannelFlags): void {
  const m = f.subnetLeaseRenewMargin;
  if (m < 1 || m > 1439) {
    throw new FlagError(
      `--subnet-lease-renew-margin=${m} is out of range: ` +
        "give minutes between 1 and 1439 (the etcd lease lives 24 h = 1440 min)",
    );
  }
  if (f.healthzPort < 0 || f.healthzPort > 65535) {
    throw new FlagError(`--healthz-port=${f.healthzPort} is out of range: give 0 (disabled) or a port 1..65535`);
  }
  if (f.iptablesResync < 1) throw new FlagError(`--iptables-resync=${f.iptablesResync} must be at least 1 second`);
  const p = normalizeAnnotationPrefix(f.kubeAnnotationPrefix);
  if ("error" in p) throw new FlagError(p.error);
}

/** `--help` text: one block per flag with its environment variable and default. */
export function helpText(): string {
  const lines = [
    "Usage: flanneld [flags]",
    "",
    "Flags (each can also be set by its FLANNELD_* environment variable; the command line wins):",
    "",
  ];
  for (const f of FLAGS) {
    const arg = f.kind === "bool" ? "" : f.kind === "int" ? " int" : " string";
    const def = Array.isArray(f.default)
      ? ""
      : f.default === "" || f.default === false
        ? ""
        : ` (default ${String(f.default)})`;
    lines.push(`  --${f.flag}${arg}`);
    lines.push(`        ${f.help}${def}${f.kind === "list" ? " [repeatable]" : ""}${f.env ? `  [$${f.env}]` : ""}`);
  }
  return `${lines.join("\n")}\n`;
}
