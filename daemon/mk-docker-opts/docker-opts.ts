/**
 * flannel's mk-docker-opts.sh, pure parts: its flags (getopts "f:d:icmk:?h"), the Docker options it
 * derives from subnet.env, the options file it writes, and its check that the routing table has no
 * route via a gateway to this node's own subnet. No file or kernel access here (main.ts does it).
 *
 * Output, for FLANNEL_SUBNET=10.1.74.1/24, FLANNEL_MTU=1472, FLANNEL_IPMASQ=false and no flags:
 *
 *   DOCKER_OPT_BIP="--bip=10.1.74.1/24"
 *   DOCKER_OPT_IPMASQ="--ip-masq=true"
 *   DOCKER_OPT_MTU="--mtu=1472"
 *   DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"
 *
 * As in the script: variables are the environment overlaid by the file's assignments; every
 * variable whose name contains DOCKER_OPT_ (the three computed ones and any from the environment or
 * the file) becomes an option, in name order; the combined value starts with the variable's
 * previous value and a space when it had one, then " <option>" per option (hence the leading
 * space); FLANNEL_IPMASQ=true means Docker must not masquerade (--ip-masq=false) and the reverse.
 */

export const DEFAULT_FLANNEL_ENV = "/run/flannel/subnet.env";
export const DEFAULT_DOCKER_ENV = "/run/docker_opts.env";

export interface DockerOptsArgs {
  /** -f */
  readonly flannelEnv: string;
  /** -d */
  readonly dockerEnv: string;
  /** -i: DOCKER_OPT_* lines */
  readonly individual: boolean;
  /** -c: the combined line */
  readonly combined: boolean;
  /** -k */
  readonly combinedKey: string;
  /** false with -m */
  readonly ipMasq: boolean;
}

/** A mistake on the command line or in the input: exit 1 with this message (and the usage for flags). */
export class DockerOptsError extends Error {
  override readonly name = "DockerOptsError";
  constructor(
    message: string,
    readonly showUsage = false,
  ) {
    super(message);
  }
}

export function usage(prog: string): string {
  return [
    `Usage: ${prog} [-f SUBNET-ENV] [-d DOCKER-ENV] [-i] [-c] [-m] [-k KEY]`,
    "",
    "Writes Docker daemon options for this node's flannel subnet (read from flanneld's subnet.env) to a file.",
    `  -f FILE  subnet file to read (default ${DEFAULT_FLANNEL_ENV})`,
    `  -d FILE  options file to write (default ${DEFAULT_DOCKER_ENV})`,
    '  -i       one DOCKER_OPT_<NAME>="<option>" line per option',
    '  -c       every option on one line, DOCKER_OPTS=" <options>"; neither -i nor -c: both',
    "  -k KEY   name the combined variable KEY instead of DOCKER_OPTS",
    "  -m       leave --ip-masq out (Docker versions without that flag)",
    "",
  ].join("\n");
}

const WITH_ARG = new Set(["f", "d", "k"]);
const FLAGS = new Set(["i", "c", "m"]);

/**
 * Parse flags like the script's getopts: grouped letters (`-ic`), an option's value attached or
 * next (`-f/x`, `-f /x`), `--` or the first operand ends the options (operands are ignored).
 * `-h`, `-?`, an unknown letter or a missing value throw with `showUsage`.
 */
export function parseArgs(argv: readonly string[]): DockerOptsArgs {
  let flannelEnv = DEFAULT_FLANNEL_ENV;
  let dockerEnv = DEFAULT_DOCKER_ENV;
  let combinedKey = "DOCKER_OPTS";
  let individual = false;
  let combined = false;
  let ipMasq = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--") break;
    if (!a.startsWith("-") || a === "-") break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j] ?? "";
      if (WITH_ARG.has(c)) {
        let v = a.slice(j + 1);
        if (v === "") {
          const next = argv[i + 1];
          if (next === undefined) throw new DockerOptsError(`option -${c} needs a value`, true);
          v = next;
          i++;
        }
        if (c === "f") flannelEnv = v;
        else if (c === "d") dockerEnv = v;
        else combinedKey = v;
        break;
      }
      if (c === "h" || c === "?") throw new DockerOptsError("", true);
      if (!FLAGS.has(c)) throw new DockerOptsError(`unknown option -${c}`, true);
      if (c === "i") individual = true;
      else if (c === "c") combined = true;
      else ipMasq = false;
    }
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(combinedKey)) {
    throw new DockerOptsError(
      `-k ${JSON.stringify(combinedKey)} is not a shell variable name: use letters, digits and _ (e.g. DOCKER_OPTS)`,
    );
  }
  if (!individual && !combined) individual = combined = true;
  return { flannelEnv, dockerEnv, individual, combined, combinedKey, ipMasq };
}

/**
 * The assignments of a subnet.env-style file (`KEY=VALUE` lines, as flanneld writes them; an
 * `export ` prefix and quotes around the value are accepted). It is read, not run by a shell.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw
      .replace(/\r$/, "")
      .trim()
      .replace(/^export\s+/, "");
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2] ?? "";
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0])) v = v.slice(1, -1);
    out[m[1] ?? ""] = v;
  }
  return out;
}

/**
 * The options file's content for these variables (environment overlaid by subnet.env). Throws
 * for a FLANNEL_IPMASQ other than true/false (unless -m), before anything is written.
 */
export function dockerOptsFile(input: Readonly<Record<string, string | undefined>>, a: DockerOptsArgs): string {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(input)) if (v !== undefined) vars[k] = v;
  const subnet = vars["FLANNEL_SUBNET"] ?? "";
  const mtu = vars["FLANNEL_MTU"] ?? "";
  const masq = vars["FLANNEL_IPMASQ"] ?? "";
  if (subnet !== "") vars["DOCKER_OPT_BIP"] = `--bip=${subnet}`;
  if (mtu !== "") vars["DOCKER_OPT_MTU"] = `--mtu=${mtu}`;
  if (masq !== "" && a.ipMasq) {
    // flanneld masquerades pod traffic itself (true): Docker must not, and the reverse
    if (masq === "true") vars["DOCKER_OPT_IPMASQ"] = "--ip-masq=false";
    else if (masq === "false") vars["DOCKER_OPT_IPMASQ"] = "--ip-masq=true";
    else throw new DockerOptsError(`Invalid value of FLANNEL_IPMASQ: ${masq} (flanneld writes true or false)`);
  }
  const previous = vars[a.combinedKey] ?? "";
  let all = previous === "" ? "" : `${previous} `;
  const lines: string[] = [];
  const names = Object.keys(vars)
    .filter((k) => k.includes("DOCKER_OPT_"))
    .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  for (const name of names) {
    const value = vars[name] ?? "";
    if (a.individual) lines.push(`${name}="${value}"`);
    all += ` ${value}`;
  }
  if (a.combined) lines.push(`${a.combinedKey}="${all}"`);
  return lines.map((l) => `${l}\n`).join("");
}

/**
 * The subnet the script looks for in `ip route show`: FLANNEL_SUBNET with its last octet minus one
 * (10.1.74.1/24 -> 10.1.74.0/24, the lease). Undefined when there is nothing to check.
 */
export function ownSubnet(flannelSubnet: string | undefined): string | undefined {
  const m = /^(\d+\.\d+\.\d+)\.(\d+)\/(\d+)$/.exec(flannelSubnet ?? "");
  if (!m) return undefined;
  const last = Number(m[2]) - 1;
  return last < 0 ? undefined : `${m[1]}.${last}/${m[3]}`;
}

/** The route lines (`ip route show` format) that route `subnet` via a gateway: a stale route to our own subnet. */
export function conflictingRoutes(routeLines: readonly string[], subnet: string): string[] {
  return routeLines.filter((l) => l.includes(subnet) && l.includes("via"));
}

/** A route as `ip route show` prints it (main table, IPv4): enough for {@link conflictingRoutes} and its message. */
export interface RouteLine {
  readonly dst: string;
  readonly type: string;
  readonly gateway?: string;
  readonly dev?: string;
  readonly protocol: number;
  readonly scope: number;
  readonly src?: string;
  readonly metric?: number;
  /** rtm_flags: RTNH_F_* next-hop flags (onlink, linkdown, ...) */
  readonly flags: number;
  /** a multipath route: iproute2 prints its next hops on lines of their own */
  readonly multipath: boolean;
}

const PROTOCOLS: Readonly<Record<number, string>> = { 1: "redirect", 2: "kernel", 4: "static", 16: "dhcp" };
const SCOPES: Readonly<Record<number, string>> = { 253: "link", 254: "host", 255: "nowhere" };
/** RTNH_F_* bits in iproute2's order. */
const FLAG_NAMES: readonly (readonly [number, string])[] = [
  [1, "dead"],
  [4, "onlink"],
  [2, "pervasive"],
  [8, "offload"],
  [16, "linkdown"],
  [32, "unresolved"],
];

export function formatRouteLine(r: RouteLine): string {
  const dst = r.dst === "0.0.0.0/0" ? "default" : r.dst.endsWith("/32") ? r.dst.slice(0, -3) : r.dst;
  const parts = [...(r.type === "unicast" ? [] : [r.type]), dst];
  if (!r.multipath && r.gateway) parts.push("via", r.gateway);
  if (!r.multipath && r.dev) parts.push("dev", r.dev);
  if (r.protocol !== 3) parts.push("proto", PROTOCOLS[r.protocol] ?? String(r.protocol));
  if (r.scope !== 0) parts.push("scope", SCOPES[r.scope] ?? String(r.scope));
  if (r.src) parts.push("src", r.src);
  if (r.metric) parts.push("metric", String(r.metric));
  if (!r.multipath) for (const [bit, name] of FLAG_NAMES) if (r.flags & bit) parts.push(name);
  // iproute2 ends every field with a space, the last one too
  return `${parts.join(" ")} `;
}
