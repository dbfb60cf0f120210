/**
 * The roles the one `weft` binary can play. Each role module exports
 * `main(argv)`, argv being the arguments after the program name, and resolves to the exit code.
 * Modules are imported lazily so a CNI exec only evaluates the code of its own role.
 */
import { VERSION } from "./version.ts";

export type RoleMain = (argv: readonly string[]) => Promise<number>;

export const ROLES = {
  flannel: {
    about: "CNI meta plugin: subnet.env -> bridge + host-local delegate",
    load: () => import("./plugins.ts").then((m) => m.flannelRole()),
  },
  bridge: {
    about: "CNI bridge plugin: cni0 bridge, veth pair, IPAM, gateway, masquerade",
    load: () => import("./plugins.ts").then((m) => m.pluginRole("bridge")),
  },
  "host-local": {
    about: "CNI host-local IPAM plugin: file-backed address allocation",
    load: () => import("./plugins.ts").then((m) => m.pluginRole("host-local")),
  },
  loopback: {
    about: "CNI loopback plugin: brings up lo in the pod",
    load: () => import("./plugins.ts").then((m) => m.pluginRole("loopback")),
  },
  flanneld: {
    about: "node daemon: subnet lease, subnet.env, data plane, masquerade, CNI server, /metrics",
    load: async () => {
      const [daemon, plugins] = await Promise.all([import("../daemon/main.ts"), import("./plugins.ts")]);
      const ctx = { version: VERSION, flannelPlugin: plugins.PLUGINS.flannel, ipam: await plugins.ipamView() };
      return { main: (argv: readonly string[]) => daemon.main(argv, ctx) };
    },
  },
  doctor: {
    about: "checks this node's flannel network (lease, links, MTU, iptables, sysctls, CNI, peers); --json",
    load: async () => {
      const [doctor, plugins] = await Promise.all([import("../daemon/doctor/main.ts"), import("./plugins.ts")]);
      const deps = await plugins.doctorPlugins();
      return { main: (argv: readonly string[]) => doctor.main(argv, deps) };
    },
  },
  cnitool: {
    about: "runs CNI network configurations against a netns (cnitool-compatible)",
    load: async () => {
      const [tool, files] = await Promise.all([import("../libcni/cli/cnitool.ts"), import("../linux/unnamed-file.ts")]);
      return { main: (argv: readonly string[]) => tool.main(argv, { files: files.unnamedFileWriter }) };
    },
  },
  "mk-docker-opts": {
    about: "flannel's mk-docker-opts.sh: subnet.env -> Docker daemon options file",
    load: () => import("../daemon/mk-docker-opts/main.ts"),
  },
} as const satisfies Record<string, { about: string; load: () => Promise<{ main: RoleMain }> }>;

export type RoleName = keyof typeof ROLES;

/** The roles that are CNI plugins: they answer CNI_COMMAND=VERSION without loading their code. */
export const CNI_PLUGIN_ROLES: ReadonlySet<RoleName> = new Set<RoleName>([
  "flannel",
  "bridge",
  "host-local",
  "loopback",
]);

export function isRole(name: string): name is RoleName {
  return Object.hasOwn(ROLES, name);
}

/**
 * Pick the role from the name the binary was run as (basename of argv0, e.g. a link
 * /opt/cni/bin/bridge -> weft, or /opt/bin/mk-docker-opts.sh -> weft), else from the first
 * argument (`weft bridge ...`).
 */
export function selectRole(
  argv0: string,
  args: readonly string[],
): { role: RoleName; rest: readonly string[] } | undefined {
  const base = argv0.slice(argv0.lastIndexOf("/") + 1).replace(/\.(exe|ts|js|sh)$/, "");
  if (isRole(base)) return { role: base, rest: args };
  const first = args[0];
  if (first !== undefined && isRole(first)) return { role: first, rest: args.slice(1) };
  return undefined;
}
