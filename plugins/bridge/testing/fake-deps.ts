/**
 * BridgeDeps for unit tests: the real kernel adapter (kernel-net.ts) over fake network namespaces
 * (linux/testing/fake-netns.ts: RecordingNetlink and MemorySysctl per netns), a scripted IPAM and a
 * recording command runner answering like iptables.
 */
import { FakeNetnsWorld, type FakeNetns } from "../../../linux/testing/fake-netns.ts";
import { RecordingRunner } from "../../../linux/testing/recording-runner.ts";
import type { Result100 } from "../../../libcni/types/result.ts";
import type { BridgeCall, BridgeDeps, IpamRunner } from "../deps.ts";
import { IpMasq } from "../ipmasq.ts";
import { kernelHost, openKernelPod, type KernelAccess } from "../kernel-net.ts";
import { SpoofCheck } from "../spoofcheck.ts";
import { FakeIptables } from "./fake-iptables.ts";

export class FakeIpam implements IpamRunner {
  readonly calls: string[] = [];
  next: Result100 = {
    cniVersion: "1.1.0",
    ips: [{ address: "10.1.2.2/24", gateway: "10.1.2.1" }],
    routes: [{ dst: "10.1.0.0/16" }],
  };
  async add(type: string): Promise<Result100> {
    this.calls.push(`ADD ${type}`);
    return structuredClone(this.next);
  }
  async del(type: string): Promise<void> {
    this.calls.push(`DEL ${type}`);
  }
  async check(type: string): Promise<void> {
    this.calls.push(`CHECK ${type}`);
  }
  async status(type: string): Promise<void> {
    this.calls.push(`STATUS ${type}`);
  }
  async gc(type: string): Promise<void> {
    this.calls.push(`GC ${type}`);
  }
}

export interface Harness {
  readonly kernel: FakeNetnsWorld;
  /** The host netns (where the plugin runs). */
  readonly host: FakeNetns;
  /** The pod netns at POD. */
  readonly pod: FakeNetns;
  readonly ipam: FakeIpam;
  readonly runner: RecordingRunner;
  readonly iptables: FakeIptables;
  readonly deps: BridgeDeps;
  readonly logs: string[];
  /** What deps.readFile finds, by path (host-local's reservation files). */
  readonly files: Map<string, string>;
  call(config: Record<string, unknown>, more?: Partial<BridgeCall>): BridgeCall;
}

export const POD = "/var/run/netns/pod1";

export function harness(hexes: string[] = []): Harness {
  const kernel = new FakeNetnsWorld();
  const pod = kernel.add(POD);
  const access: KernelAccess = {
    netlink: (ns) => kernel.netlink(ns),
    openNetns: (path) => kernel.open(path),
    inNetns: (ns, fn) => kernel.enter(ns, fn),
    sysctl: kernel.sysctl,
  };
  const ipam = new FakeIpam();
  const iptables = new FakeIptables();
  const runner = new RecordingRunner((c) => iptables.answer(c.cmd, c.args, c.input) ?? {});
  const logs: string[] = [];
  const files = new Map<string, string>();
  let n = 0;
  const deps: BridgeDeps = {
    host: kernelHost(access),
    openPod: (path) => openKernelPod(access, path),
    ipam,
    masq: new IpMasq(runner, { path: ["/usr/sbin"], exists: () => true }),
    spoof: new SpoofCheck(runner),
    randomHex: () => hexes[n++] ?? (n++).toString(16).padStart(8, "a"),
    sleep: async () => undefined,
    log: (m) => logs.push(m),
    readFile: (p) => files.get(p),
  };
  return {
    kernel,
    host: kernel.root,
    pod,
    ipam,
    runner,
    iptables,
    deps,
    logs,
    files,
    call: (config, more = {}) => ({
      containerID: "cid1",
      netns: POD,
      ifName: "eth0",
      args: "",
      stdinData: JSON.stringify(config),
      config,
      ...more,
    }),
  };
}
