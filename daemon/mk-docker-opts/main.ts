/**
 * The mk-docker-opts role of the weft binary: flannel's dist/mk-docker-opts.sh (same flags, same
 * options file), for Docker-era nodes whose docker.service reads DOCKER_OPTS from it. A link named
 * mk-docker-opts or mk-docker-opts.sh runs it. Exit codes: 0 written; 1 bad flags (usage on
 * stderr), bad FLANNEL_IPMASQ (nothing written), an unwritable file, or a route via a gateway to
 * this node's own subnet (the file is written first, as the script does).
 *
 * It lives under daemon/ because it is flanneld's companion: it reads the subnet.env flanneld
 * writes and ships where flanneld does; the routing table is read over linux/ rtnetlink (never `ip`).
 */
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { errorMessage } from "../log.ts";
import {
  conflictingRoutes,
  dockerOptsFile,
  DockerOptsError,
  formatRouteLine,
  ownSubnet,
  parseArgs,
  parseEnvFile,
  usage,
  type DockerOptsArgs,
  type RouteLine,
} from "./docker-opts.ts";

const PROG = "mk-docker-opts";

/** The main table's IPv4 routes as `ip route show` lines, from the kernel. */
async function kernelRouteLines(): Promise<string[]> {
  const { openNetlink } = await import("../../linux/netlink/open.ts");
  const nl = openNetlink();
  try {
    const names = new Map(nl.listLinks().map((l) => [l.index, l.name]));
    return nl.listRoutes({ family: 4 }).map((r) => {
      const dev = r.oif === undefined ? undefined : names.get(r.oif);
      const line: RouteLine = {
        dst: r.dst,
        type: r.type,
        protocol: r.protocol,
        scope: r.scope,
        flags: r.flags,
        multipath: (r.multipath?.length ?? 0) > 0,
        ...(r.gateway ? { gateway: r.gateway } : {}),
        ...(dev ? { dev } : {}),
        ...(r.src ? { src: r.src } : {}),
        ...(r.priority ? { metric: r.priority } : {}),
      };
      return formatRouteLine(line);
    });
  } finally {
    nl.close();
  }
}

export interface MkDockerOptsIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stderr: (s: string) => void;
  readonly routeLines: () => Promise<string[]>;
}

const SYSTEM: MkDockerOptsIo = {
  env: process.env,
  stderr: (s) => void process.stderr.write(s),
  routeLines: kernelRouteLines,
};

/** Run with `argv` (the arguments after the program name); resolves to the exit code. */
export async function main(argv: readonly string[], io: MkDockerOptsIo = SYSTEM): Promise<number> {
  let a: DockerOptsArgs;
  try {
    a = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof DockerOptsError)) throw e;
    if (e.message) io.stderr(`${PROG}: ${e.message}\n`);
    if (e.showUsage) io.stderr(usage(PROG));
    return 1;
  }
  let fileVars: Record<string, string> = {};
  if (existsSync(a.flannelEnv) && statSync(a.flannelEnv).isFile()) {
    fileVars = parseEnvFile(readFileSync(a.flannelEnv, "utf8"));
  } else {
    io.stderr(
      `${PROG}: ${a.flannelEnv} does not exist (is flanneld running on this ` +
        "node?): writing the options without flanneld's --bip, --mtu and --ip-masq\n",
    );
  }
  const vars = { ...io.env, ...fileVars };
  let content: string;
  try {
    content = dockerOptsFile(vars, a);
  } catch (e) {
    if (!(e instanceof DockerOptsError)) throw e;
    io.stderr(`${e.message}\n`);
    return 1;
  }
  try {
    writeFileSync(a.dockerEnv, content);
  } catch (e) {
    io.stderr(`${PROG}: cannot write ${a.dockerEnv}: ${errorMessage(e)}\n`);
    return 1;
  }
  const subnet = ownSubnet(vars["FLANNEL_SUBNET"]);
  if (!subnet) return 0;
  let lines: string[];
  try {
    lines = await io.routeLines();
  } catch (e) {
    io.stderr(`${PROG}: cannot read the routing table to check for ${subnet}: ${errorMessage(e)}\n`);
    return 0;
  }
  const bad = conflictingRoutes(lines, subnet);
  if (bad.length === 0) return 0;
  io.stderr(`Your routing table already contains the subnet: ${bad.join("\n")}\n`);
  return 1;
}
