// The extension backend (flannel's "extension"): the data plane is whatever four shell commands
// from the network config do.
//
//   PreStartupCommand    before leasing; its output (stdout and stderr, trimmed) is published as
//                        the lease's BackendData, a JSON string
//   PostStartupCommand   after leasing; env NETWORK, SUBNET, IPV6SUBNET, PUBLIC_IP, PUBLIC_IPV6
//   SubnetAddCommand     per peer lease added;   env SUBNET, PUBLIC_IP; stdin: the peer's BackendData
//   SubnetRemoveCommand  per peer lease removed; env SUBNET, PUBLIC_IP; stdin: the peer's BackendData
//
// Each runs as `sh -c <command>` with flanneld's environment plus those variables, and stdin (a
// line: the BackendData string, empty for the start-up commands). A failing start-up command
// stops flanneld (exit 1) with its output; a failing add/remove command is logged with its output
// and the next event is handled. Values are formatted as flannel formats them, including its
// placeholders for an absent family: "0.0.0.0/0", "::/0", "0.0.0.0" and "<nil>".
import { getField } from "../../libcni/validate/fields.ts";
import type { NetworkConfig } from "../config.ts";
import { formatCidr } from "../../net/prefix.ts";
import type { Lease, LeaseAttrs, LeaseEvent } from "../lease.ts";
import type { Logger } from "../log.ts";
import type { Backend, BackendNetwork, RegisterOptions } from "../dataplane.ts";
import { sleep } from "../time.ts";

/** What a command printed (stdout and stderr interleaved, trimmed) and how it ended. */
export interface ShellResult {
  readonly exitCode: number;
  readonly output: string;
  /** Why it failed when it did not simply exit non-zero (killed by a signal, could not start). */
  readonly error?: string;
}

export interface ShellOptions {
  /** Variables added to flanneld's own environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: string;
  /** Kills the command (flanneld is stopping). */
  readonly signal?: AbortSignal;
}

/** Runs one command line through a shell. */
export type ShellRunner = (command: string, o: ShellOptions) => Promise<ShellResult>;

/** `sh -c command` through execa (loaded on first use). */
export const execaShell: ShellRunner = async (command, o) => {
  const { execa } = await import("execa");
  const r = await execa("sh", ["-c", command], {
    env: { ...o.env },
    input: o.stdin,
    all: true,
    reject: false,
    // no exit hook: execa's re-raises SIGTERM while a command runs, killing flanneld mid-shutdown
    cleanup: false,
    ...(o.signal ? { cancelSignal: o.signal } : {}),
  });
  const output = String(r.all ?? "").trim();
  if (r.exitCode !== undefined) return { exitCode: r.exitCode, output };
  const error = r.signal ? `signal: ${r.signal}` : (r.originalMessage ?? r.shortMessage ?? "could not run sh");
  return { exitCode: -1, output, error };
};

/** The four commands of the Backend object; absent = "" (not run). */
export interface ExtensionCommands {
  readonly preStartup: string;
  readonly postStartup: string;
  readonly subnetAdd: string;
  readonly subnetRemove: string;
}

/** Read the commands from Backend (keys matched case-insensitively, like Go's JSON decoding). */
export function extensionCommands(cfg: NetworkConfig): ExtensionCommands {
  const one = (key: string): string => {
    const v = getField(cfg.backend.raw, key);
    if (v === undefined || v === null) return "";
    if (typeof v !== "string")
      throw new Error(`"Backend.${key}" must be a string (a shell command line), got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    preStartup: one("PreStartupCommand"),
    postStartup: one("PostStartupCommand"),
    subnetAdd: one("SubnetAddCommand"),
    subnetRemove: one("SubnetRemoveCommand"),
  };
}

/** flannel's rendering of an absent IPv4 / IPv6 subnet and IPv6 address. */
const NO_V4_NET = "0.0.0.0/0";
const NO_V6_NET = "::/0";
const NO_V6_IP = "<nil>";

/** The environment of PostStartupCommand. */
export function postStartupEnv(cfg: NetworkConfig, lease: Lease, attrs: LeaseAttrs): Record<string, string> {
  return {
    NETWORK: cfg.network ? formatCidr(cfg.network) : NO_V4_NET,
    SUBNET: lease.subnet ? formatCidr(lease.subnet) : NO_V4_NET,
    IPV6SUBNET: lease.subnetV6 ? formatCidr(lease.subnetV6) : NO_V6_NET,
    PUBLIC_IP: attrs.PublicIP || "0.0.0.0",
    PUBLIC_IPV6: attrs.PublicIPv6 ?? NO_V6_IP,
  };
}

/** The environment of SubnetAddCommand / SubnetRemoveCommand for a peer's lease. */
export function subnetEventEnv(peer: Lease): Record<string, string> {
  return { SUBNET: peer.subnet ? formatCidr(peer.subnet) : NO_V4_NET, PUBLIC_IP: peer.attrs.PublicIP || "0.0.0.0" };
}

function failure(r: ShellResult): string {
  return r.error ?? `exit status ${r.exitCode}`;
}

export function extensionBackend(log: Logger, shell: ShellRunner = execaShell): Backend {
  return {
    type: "extension",
    async register(o: RegisterOptions): Promise<BackendNetwork> {
      const cmds = extensionCommands(o.config);
      const run = async (command: string, env: Record<string, string>, stdin: string): Promise<ShellResult> =>
        shell(command, { env, stdin: `${stdin}\n`, signal: o.signal });
      const startup = async (command: string, env: Record<string, string>): Promise<string> => {
        const r = await run(command, env, "");
        if (r.exitCode !== 0 || r.error)
          throw new Error(`failed to run command: ${command} Err: ${failure(r)} Output: ${r.output}`);
        log.info("ran command", { command, output: r.output });
        return r.output;
      };

      let backendData: string | undefined;
      if (cmds.preStartup) backendData = await startup(cmds.preStartup, {});
      else log.info("No pre startup command configured - skipping");

      // flannel publishes the interface's own addresses here (not --public-ip)
      const ext = o.extIface;
      const attrs: LeaseAttrs = {
        PublicIP: ext.ipv4 ?? "0.0.0.0",
        ...(o.config.enableIPv6 && ext.ipv6 ? { PublicIPv6: ext.ipv6 } : {}),
        BackendType: "extension",
        ...(backendData !== undefined ? { BackendData: backendData } : {}),
      };
      const lease = await o.acquire(attrs);

      if (cmds.postStartup) await startup(cmds.postStartup, postStartupEnv(o.config, lease, attrs));
      else log.info("No post startup command configured - skipping");

      const onEvent = async (e: LeaseEvent): Promise<void> => {
        // stopping: the rest of a batch runs no more commands (the next start replays every peer)
        if (o.signal.aborted) return;
        const l = e.lease;
        const subnet = l.subnet ? formatCidr(l.subnet) : NO_V4_NET;
        log.info(e.type === "added" ? "Subnet added" : "Subnet removed", { subnet, public_ip: l.attrs.PublicIP });
        if (l.attrs.BackendType !== "extension") {
          log.warn("Ignoring non-extension subnet", { type: l.attrs.BackendType ?? "" });
          return;
        }
        const command = e.type === "added" ? cmds.subnetAdd : cmds.subnetRemove;
        if (!command) return;
        const data = l.attrs.BackendData;
        if (data !== undefined && typeof data !== "string") {
          log.error("failed to unmarshal BackendData: it is not a JSON string", {
            subnet,
            backend_data: JSON.stringify(data),
          });
          return;
        }
        const r = await run(command, subnetEventEnv(l), data ?? "");
        if (o.signal.aborted) return;
        if (r.exitCode !== 0 || r.error)
          log.error("failed to run command", { command, error: failure(r), output: r.output });
        else log.info("ran command", { command, output: r.output });
      };

      return {
        lease,
        // the external interface's MTU, as flannel (Backend.MTU is not read)
        mtu: ext.mtu,
        async handleEvents(batch) {
          // one at a time, in order, as flannel: a remove must not overtake the add before it
          for (const e of batch) await onEvent(e);
        },
        async run(signal) {
          while (!signal.aborted) await sleep(2 ** 31 - 1, signal);
        },
      };
    },
  };
}
