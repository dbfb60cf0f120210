/**
 * flanneld's /metrics: the parts of the daemon keep plain counters (the subnet manager's
 * {@link StoreStats}, the backend's and the rule keeper's stats, the CNI server's CallStats), this
 * module tallies the lease events and, at each scrape, reads them all into Prometheus families.
 * Names start with `weft_`: flannel exports no metrics, so there are no dashboards to stay
 * compatible with, and a `flannel_` prefix would claim names upstream may one day use differently.
 */
import { containsIp, formatCidr, parseIp, type IpNet } from "../../net/prefix.ts";
import type { CallStats } from "../cni-server/calls.ts";
import { LATENCY_BUCKETS } from "../cni-server/calls.ts";
import type { BackendStats, RuleStats } from "../dataplane.ts";
import type { IpamView } from "../ipam-view.ts";
import { describeLease, type Lease, type LeaseEvent } from "../lease.ts";
import type { StoreStats } from "../subnet/manager.ts";
import { histogramSamples, renderFamilies, type MetricFamily, type Sample } from "./exposition.ts";

/** Where the IPAM gauges come from: the plugin's view and the host-local data directory. */
export interface IpamSource {
  readonly view: IpamView;
  readonly dataDir: string;
}

export interface DaemonMetricsOptions {
  readonly version: string;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
  readonly ipam?: IpamSource;
}

/** The parts a running daemon attaches as they come up; each is read at scrape time. */
export interface MetricSources {
  readonly store?: { readonly kind: string; readonly stats: StoreStats };
  readonly backend?: { readonly type: string; readonly stats: () => BackendStats };
  readonly rules?: () => RuleStats;
  readonly cni?: () => CallStats;
}

export class DaemonMetrics {
  private readonly peers = new Map<string, Lease>();
  private own: Lease | undefined;
  private readonly events = { added: 0, removed: 0 };
  private lastEventMs: number | undefined;
  private sources: MetricSources = {};
  /** Set once subnet.env is written (the /readyz condition). */
  ready = false;

  constructor(private readonly o: DaemonMetricsOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  attach(more: MetricSources): void {
    this.sources = { ...this.sources, ...more };
  }

  setOwnLease(l: Lease): void {
    this.own = l;
  }

  /** Tally one batch of lease events as the backend gets it (the first batch is the store's snapshot). */
  leaseEvents(batch: readonly LeaseEvent[]): void {
    for (const e of batch) {
      const key = describeLease(e.lease);
      if (e.type === "added") this.peers.set(key, e.lease);
      else this.peers.delete(key);
      this.events[e.type]++;
    }
    if (batch.length > 0) this.lastEventMs = this.now();
  }

  /** Every family, read now. */
  families(): MetricFamily[] {
    const s = this.sources;
    const out: MetricFamily[] = [
      gauge("weft_build_info", "Weft's version; always 1.", [{ labels: { version: this.o.version }, value: 1 }]),
      gauge("weft_ready", "1 once subnet.env is written and the rules are installed (what /readyz answers).", [
        { value: this.ready ? 1 : 0 },
      ]),
      gauge("weft_leases_known", "Subnet leases this node knows: its own and every peer's.", [
        { value: this.peers.size + (this.own ? 1 : 0) },
      ]),
      counter(
        "weft_lease_events_total",
        "Lease events handed to the backend, by type (added also counts a peer whose attributes changed).",
        [
          { labels: { type: "added" }, value: this.events.added },
          { labels: { type: "removed" }, value: this.events.removed },
        ],
      ),
      ...this.eventAge(),
      ...this.backendFamilies(s.backend),
      ...this.ruleFamilies(s.rules?.()),
      ...this.storeFamilies(s.store),
      ...this.cniFamilies(s.cni?.()),
      ...this.ipamFamilies(),
    ];
    return out;
  }

  render(): string {
    return renderFamilies(this.families());
  }

  private eventAge(): MetricFamily[] {
    const t = this.lastEventMs;
    const samples = (v: number): Sample[] => (t === undefined ? [] : [{ value: v }]);
    return [
      gauge(
        "weft_last_lease_event_timestamp_seconds",
        "When the last lease event arrived (Unix time); absent before the first.",
        samples((t ?? 0) / 1000),
      ),
      gauge(
        "weft_last_lease_event_age_seconds",
        "Seconds since the last lease event arrived; absent before the first.",
        samples(Math.max(0, this.now() - (t ?? 0)) / 1000),
      ),
    ];
  }

  private backendFamilies(b: MetricSources["backend"]): MetricFamily[] {
    const st = b?.stats();
    const peers = (st?.peers ?? []).map((p) => ({
      labels: { backend: b?.type ?? "", family: `ipv${p.family}` },
      value: p.count,
    }));
    const repairs = [...(st?.repairs ?? new Map<string, number>())]
      .sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0))
      .map(([kind, n]) => ({ labels: { kind }, value: n }));
    return [
      gauge("weft_peers_programmed", "Peers whose routes (and vxlan neighbour/FDB entries) this node programs.", peers),
      counter(
        "weft_reconcile_repairs_total",
        "Kernel state the periodic reconcile found missing or stale and rewrote, by kind.",
        repairs,
      ),
    ];
  }

  private ruleFamilies(r: RuleStats | undefined): MetricFamily[] {
    const one = (v: number | undefined): Sample[] => (r ? [{ value: v ?? 0 }] : []);
    return [
      counter(
        "weft_rule_resyncs_total",
        "Checks that the iptables / nftables rules are still in place.",
        one(r?.resyncs),
      ),
      counter("weft_rule_repairs_total", "Rule sets a check found missing and reinstalled.", one(r?.repairs)),
      counter("weft_rule_resync_errors_total", "Rule checks that failed (iptables / nft errors).", one(r?.errors)),
    ];
  }

  private storeFamilies(st: MetricSources["store"]): MetricFamily[] {
    const labels = { store: st?.kind ?? "" };
    const one = (v: number | undefined): Sample[] => (st ? [{ labels, value: v ?? 0 }] : []);
    return [
      counter(
        "weft_store_errors_total",
        "Failed etcd / Kubernetes API requests and broken watches (each retried).",
        one(st?.stats.errors),
      ),
      counter(
        "weft_store_reconnects_total",
        "Lease watches opened again after a break, a compaction or an expired resource version.",
        one(st?.stats.reconnects),
      ),
    ];
  }

  private cniFamilies(c: CallStats | undefined): MetricFamily[] {
    const calls = [...(c?.answered ?? new Map<string, number>())].sort().map(([key, n]) => {
      const [command = "", code = ""] = key.split(" ");
      return { labels: { command, result: code === "0" ? "success" : "error" }, value: n };
    });
    const merged = new Map<string, Sample>();
    for (const s of calls) {
      const k = `${s.labels.command} ${s.labels.result}`;
      const prev = merged.get(k);
      merged.set(k, prev ? { ...s, value: prev.value + s.value } : s);
    }
    const latency = [...(c?.latency ?? new Map())]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .flatMap(([command, h]) => histogramSamples(LATENCY_BUCKETS, h.buckets, h.count, h.sum, { command }));
    return [
      counter("weft_cni_calls_total", "CNI calls the CNI server answered, by command and result.", [
        ...merged.values(),
      ]),
      histogram("weft_cni_call_duration_seconds", "Time from taking a CNI call to answering it, by command.", latency),
      gauge("weft_cni_calls_in_flight", "CNI calls taken and not answered yet.", c ? [{ value: c.inFlight }] : []),
    ];
  }

  private ipamFamilies(): MetricFamily[] {
    const ipam = this.o.ipam;
    const nets = [this.own?.subnet, this.own?.subnetV6].filter((n): n is IpNet => n !== undefined);
    const pool: Sample[] = [];
    const used: Sample[] = [];
    if (ipam && nets.length > 0) {
      const dirs = ipam.view.networks(ipam.dataDir);
      for (const net of nets) {
        const subnet = formatCidr(net);
        const family = `ipv${net.family}`;
        pool.push({ labels: { family, subnet }, value: ipam.view.poolSize(subnet) });
        let n = 0;
        for (const d of dirs) n += d.reservations.filter((r) => inNet(net, r.ip)).length;
        used.push({ labels: { family, subnet }, value: n });
      }
    }
    return [
      gauge(
        "weft_ipam_pool_size",
        "Addresses host-local can hand out from this node's subnet (default range, gateway excluded).",
        pool,
      ),
      gauge(
        "weft_ipam_allocated",
        "Addresses reserved in this node's subnet (host-local files in every network directory of the data dir).",
        used,
      ),
    ];
  }
}

function inNet(net: IpNet, ip: string): boolean {
  const a = parseIp(ip);
  return a !== undefined && containsIp(net, a.family, a.ip);
}

function gauge(name: string, help: string, samples: readonly Sample[]): MetricFamily {
  return { name, help, type: "gauge", samples };
}

function counter(name: string, help: string, samples: readonly Sample[]): MetricFamily {
  return { name, help, type: "counter", samples };
}

function histogram(name: string, help: string, samples: readonly Sample[]): MetricFamily {
  return { name, help, type: "histogram", samples };
}
