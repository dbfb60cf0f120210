/**
 * In-memory lease store and {@link SubnetManager}: the fake for unit tests. Several managers (nodes)
 * can share one store; they see each other's leases through the same events a real store would give.
 */
import { checkNetworkConfig, parseNetworkConfig, type NetworkConfig } from "../config.ts";
import type { IpNet } from "../../net/prefix.ts";
import {
  allocateSubnet,
  fitsConfig,
  LeaseWatcher,
  sameSubnets,
  subnetKey,
  type Lease,
  type LeaseAttrs,
  type LeaseEvent,
} from "../lease.ts";
import { onAbort, sleep } from "../time.ts";
import {
  ConfigNotFoundError,
  LeaseLostError,
  NoFreeSubnetError,
  type LeaseEventHandler,
  type SubnetManager,
} from "../subnet/manager.ts";

type Listener = (events: readonly LeaseEvent[]) => void;

export class MemoryLeaseStore {
  private configText: string | undefined;
  private readonly leases = new Map<string, Lease>();
  private readonly listeners = new Set<Listener>();

  constructor(configText?: string) {
    this.configText = configText;
  }

  setConfig(text: string): void {
    this.configText = text;
  }

  get config(): string | undefined {
    return this.configText;
  }

  list(): Lease[] {
    return [...this.leases.values()];
  }

  /** Create or replace a lease and tell every watcher. */
  put(l: Lease): void {
    this.leases.set(keyOf(l), l);
    this.emit([{ type: "added", lease: l }]);
  }

  /** Remove the lease holding `subnet`; true if there was one. */
  remove(subnet: IpNet): boolean {
    for (const [k, l] of this.leases) {
      if (l.subnet && sameSubnets({ subnet }, { subnet: l.subnet })) {
        this.leases.delete(k);
        this.emit([{ type: "removed", lease: l }]);
        return true;
      }
    }
    return false;
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(events: readonly LeaseEvent[]): void {
    for (const fn of this.listeners) fn(events);
  }

  /** A manager for one node. */
  manager(opts: { previous?: { subnet?: IpNet; subnetV6?: IpNet }; rng?: () => number } = {}): MemorySubnetManager {
    return new MemorySubnetManager(this, opts);
  }
}

function keyOf(l: Pick<Lease, "subnet" | "subnetV6">): string {
  return l.subnet ? subnetKey(l.subnet, l.subnetV6) : `v6:${String(l.subnetV6?.ip)}`;
}

export class MemorySubnetManager implements SubnetManager {
  readonly kind = "memory";
  /** Calls made, for tests: "getNetworkConfig", "acquireLease 192.0.2.1", ... */
  readonly calls: string[] = [];
  private config: NetworkConfig | undefined;

  constructor(
    readonly store: MemoryLeaseStore,
    private readonly opts: { previous?: { subnet?: IpNet; subnetV6?: IpNet }; rng?: () => number },
  ) {}

  close(): void {
    this.calls.push("close");
  }

  async getNetworkConfig(_signal: AbortSignal): Promise<NetworkConfig> {
    this.calls.push("getNetworkConfig");
    const text = this.store.config;
    if (text === undefined)
      throw new ConfigNotFoundError("no network config in the in-memory store: call setConfig first");
    this.config = checkNetworkConfig(parseNetworkConfig(text, "memory store config"), "memory store config");
    return this.config;
  }

  async acquireLease(attrs: LeaseAttrs, _signal: AbortSignal): Promise<Lease> {
    this.calls.push(`acquireLease ${attrs.PublicIP}`);
    const cfg = this.config;
    if (!cfg) throw new Error("MemorySubnetManager: getNetworkConfig must succeed before acquireLease");
    const all = this.store.list();
    const mine = all.find((l) => l.attrs.PublicIP === attrs.PublicIP && fitsConfig(cfg, l));
    const others = all.filter((l) => l !== mine);
    const prev = this.opts.previous;
    let chosen: { subnet?: IpNet; subnetV6?: IpNet } | undefined = mine;
    if (!chosen && prev && fitsConfig(cfg, prev) && !others.some((l) => sameSubnets(l, prev))) chosen = prev;
    chosen ??= allocateSubnet(cfg, others, this.opts.rng);
    if (!chosen) throw new NoFreeSubnetError("no free subnet left in the in-memory store");
    const lease: Lease = {
      ...(chosen.subnet ? { subnet: chosen.subnet } : {}),
      ...(chosen.subnetV6 ? { subnetV6: chosen.subnetV6 } : {}),
      attrs,
    };
    this.store.put(lease);
    return lease;
  }

  async completeLease(lease: Lease, signal: AbortSignal): Promise<void> {
    this.calls.push("completeLease");
    let lost = false;
    const ac = new AbortController();
    const unsubscribe = this.store.subscribe((events) => {
      if (events.some((e) => e.type === "removed" && sameSubnets(e.lease, lease))) {
        lost = true;
        ac.abort();
      }
    });
    const unlink = onAbort(signal, () => ac.abort());
    try {
      while (!ac.signal.aborted) await sleep(2 ** 31 - 1, ac.signal);
    } finally {
      unsubscribe();
      unlink();
    }
    if (lost) throw new LeaseLostError("this node's lease was removed from the in-memory store");
  }

  async watchLeases(own: Lease, onEvents: LeaseEventHandler, signal: AbortSignal): Promise<void> {
    this.calls.push("watchLeases");
    const w = new LeaseWatcher(own);
    const first = w.reset(this.store.list());
    let chain: Promise<void> = Promise.resolve().then(() => onEvents(first));
    const unsubscribe = this.store.subscribe((events) => {
      const batch = w.update(events);
      if (batch.length > 0) chain = chain.then(() => onEvents(batch));
    });
    try {
      await sleep(0, signal);
      while (!signal.aborted) await sleep(2 ** 31 - 1, signal);
    } finally {
      unsubscribe();
    }
    await chain;
  }
}
