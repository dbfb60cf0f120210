// In-memory WgOps for unit tests: devices with WireGuard's set semantics (replace peers, remove,
// replace allowed IPs, keys and ports), links, addresses and routes; every call is recorded.
import type { WgDeviceConfig, WgDeviceState, WgPeerState } from "../../linux/wireguard/types.ts";
import type { KRoute } from "../backend/netops.ts";
import type { WgOps } from "../backend/wireguard-network.ts";

interface FakeDevice {
  index: number;
  mtu: number;
  up: boolean;
  addrs: string[];
  privateKey?: string;
  listenPort: number;
  peers: Map<string, WgPeerState>;
}

export class FakeWgOps implements WgOps {
  readonly devices = new Map<string, FakeDevice>();
  readonly routes: KRoute[] = [];
  readonly calls: string[] = [];
  /** Make the next createDevice calls fail with this message. */
  failCreate: string | undefined;
  impl: "kernel" | "userspace" = "userspace";
  private lost: ((name: string, why: string) => void) | undefined;
  private next = 20;

  async createDevice(name: string, mtu: number): Promise<{ index: number; impl: "kernel" | "userspace" }> {
    this.calls.push(`create ${name} mtu ${mtu}`);
    if (this.failCreate) throw new Error(this.failCreate);
    this.dropDevice(name);
    const index = this.next++;
    this.devices.set(name, { index, mtu, up: false, addrs: [], listenPort: 0, peers: new Map() });
    return { index, impl: this.impl };
  }

  private must(name: string): FakeDevice {
    const d = this.devices.get(name);
    if (!d) throw new Error(`no device ${name}`);
    return d;
  }

  async configure(name: string, cfg: WgDeviceConfig): Promise<void> {
    this.calls.push(`configure ${name} ${cfg.peers ? `${cfg.peers.length} peers` : "device"}`);
    const d = this.must(name);
    if (cfg.privateKey !== undefined) {
      if (cfg.privateKey === null) delete d.privateKey;
      else d.privateKey = cfg.privateKey;
    }
    if (cfg.listenPort !== undefined) d.listenPort = cfg.listenPort;
    if (cfg.replacePeers) d.peers.clear();
    for (const p of cfg.peers ?? []) {
      if (p.remove) {
        d.peers.delete(p.publicKey);
        continue;
      }
      const had = d.peers.get(p.publicKey);
      if (!had && p.updateOnly) continue;
      const cur: WgPeerState = had ?? {
        publicKey: p.publicKey,
        persistentKeepalive: 0,
        lastHandshake: 0,
        rxBytes: 0n,
        txBytes: 0n,
        allowedIps: [],
        protocolVersion: 1,
      };
      const { presharedKey: oldPsk, ...rest } = cur;
      const psk = p.presharedKey === undefined ? oldPsk : (p.presharedKey ?? undefined);
      d.peers.set(p.publicKey, {
        ...rest,
        ...(psk ? { presharedKey: psk } : {}),
        ...(p.endpoint !== undefined ? { endpoint: p.endpoint } : {}),
        ...(p.persistentKeepalive !== undefined ? { persistentKeepalive: p.persistentKeepalive } : {}),
        allowedIps: [...(p.replaceAllowedIps ? [] : cur.allowedIps), ...(p.allowedIps ?? [])],
      });
    }
  }

  async read(name: string): Promise<WgDeviceState> {
    this.calls.push(`read ${name}`);
    const d = this.must(name);
    return {
      name,
      index: d.index,
      ...(d.privateKey ? { privateKey: d.privateKey } : {}),
      listenPort: d.listenPort,
      fwmark: 0,
      peers: [...d.peers.values()],
    };
  }

  private dropDevice(name: string): void {
    const d = this.devices.get(name);
    if (!d) return;
    this.devices.delete(name);
    for (let i = this.routes.length - 1; i >= 0; i--) if (this.routes[i]?.ifindex === d.index) this.routes.splice(i, 1);
  }

  async removeDevice(name: string): Promise<void> {
    this.calls.push(`remove ${name}`);
    this.dropDevice(name);
  }

  onDeviceLost(cb: (name: string, why: string) => void): void {
    this.lost = cb;
  }

  /** The device vanishes as when its wireguard-go process dies, and the backend is told. */
  kill(name: string, why = "signal SIGKILL"): void {
    this.dropDevice(name);
    this.lost?.(name, why);
  }

  linkIndex(name: string): number | undefined {
    return this.devices.get(name)?.index;
  }

  ensureAddress(ifindex: number, cidr: string): void {
    for (const d of this.devices.values()) {
      if (d.index !== ifindex) continue;
      const fam = cidr.includes(":");
      d.addrs = [...d.addrs.filter((a) => a.includes(":") !== fam), cidr];
      d.up = true;
    }
  }

  listRoutes(family: 4 | 6): KRoute[] {
    return this.routes.filter((r) => r.dst.includes(":") === (family === 6));
  }

  replaceRoute(r: KRoute): void {
    this.calls.push(`route replace ${r.dst} dev ${r.ifindex}`);
    const i = this.routes.findIndex((x) => x.dst === r.dst);
    if (i >= 0) this.routes.splice(i, 1);
    this.routes.push(r);
  }
}
