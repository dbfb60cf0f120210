/**
 * Subnet leases in etcd, wire-compatible with flanneld: config at `<prefix>/config`, leases at
 * `<prefix>/subnets/<10.5.34.0-24[&v6-64]>` holding LeaseAttrs JSON and attached to a 24 h etcd lease.
 *
 * Better than the reference: the own lease is kept alive (keep-alive, or a new lease + re-put if it
 * vanished) `renewMargin` before expiry; listing needs one range call (no per-key TTL calls); a
 * compacted watch resyncs once from a fresh snapshot; every reconnect backs off (100 ms → 5 s);
 * a snapshot also reports peers whose attributes changed; losing the own lease is an error.
 */
import { checkNetworkConfig, ConfigError, parseNetworkConfig, type NetworkConfig } from "../config.ts";
import type { EtcdClient, KeyValue, WatchResponse } from "../etcd/client.ts";
import {
  allocateSubnet,
  describeLease,
  fitsConfig,
  formatLeaseAttrs,
  LeaseWatcher,
  parseLeaseAttrs,
  parseSubnetKey,
  sameSubnets,
  subnetKey,
  type Lease,
  type LeaseAttrs,
  type LeaseEvent,
} from "../lease.ts";
import { errorMessage, type Logger } from "../log.ts";
import { overlaps, type IpNet } from "../../net/prefix.ts";
import { Backoff, onAbort, sleep } from "../time.ts";
import { WaitLog } from "../wait-log.ts";
import {
  ConfigNotFoundError,
  LeaseLostError,
  NoFreeSubnetError,
  type LeaseEventHandler,
  type StoreStats,
  type SubnetManager,
} from "./manager.ts";

/** Options of {@link EtcdSubnetManager}. */
export interface EtcdManagerOptions {
  readonly client: EtcdClient;
  /** @default "/coreos.com/network" */
  readonly prefix?: string;
  /** Subnets from the previous subnet.env, tried before a random allocation. */
  readonly previous?: { readonly subnet?: IpNet; readonly subnetV6?: IpNet };
  /** Renew this long before expiry (--subnet-lease-renew-margin). @default 60 min */
  readonly renewMarginMs?: number;
  /** Lease TTL. @default 86400 s (24 h) as flannel */
  readonly ttlSeconds?: number;
  /** Wait after a failed renewal. @default 60 s */
  readonly renewRetryMs?: number;
  readonly log: Logger;
  /** Random source of the allocator, [0,1). @default Math.random */
  readonly rng?: () => number;
}

interface StoredLease {
  readonly lease: Lease;
  readonly key: string;
  readonly modRevision: number;
  readonly createRevision: number;
  /** etcd lease ID the key hangs on; "0" for a reservation. */
  readonly etcdLease: string;
}

interface Snapshot {
  readonly leases: readonly StoredLease[];
  readonly revision: number;
}

const RACE_RETRIES = 10;

export class EtcdSubnetManager implements SubnetManager {
  readonly kind = "etcd";
  readonly stats: StoreStats = { errors: 0, reconnects: 0 };
  private readonly prefix: string;
  private readonly log: Logger;
  /** The lease watch's reconnects while etcd does not answer. */
  private readonly watchWait: WaitLog;
  private config: NetworkConfig | undefined;
  /** etcd lease ID and key of our own subnet. */
  private own: { key: string; leaseId: string; expiration: number; value: string; renewedAt?: number } | undefined;
  /**
   * The listing of the previous startup step, handed to the next (previousAttrs → acquireLease →
   * watchLeases) so startup reads the leases once instead of three times; with thousands of leases
   * each read allocates megabytes. Stale views are safe: acquisition writes with compare-and-swap
   * and the watch resumes from the snapshot's revision.
   */
  private snapshot: Snapshot | undefined;

  constructor(private readonly o: EtcdManagerOptions) {
    this.prefix = (o.prefix ?? "/coreos.com/network").replace(/\/+$/, "");
    this.log = o.log.with({ component: "etcd-subnet" });
    this.watchWait = new WaitLog(this.log, "etcd (the lease watch)");
  }

  private get subnetsPrefix(): string {
    return `${this.prefix}/subnets/`;
  }

  close(): void {
    this.o.client.close();
  }

  async getNetworkConfig(signal: AbortSignal): Promise<NetworkConfig> {
    const key = `${this.prefix}/config`;
    const { kv } = await this.o.client.get(key, signal);
    if (!kv) {
      throw new ConfigNotFoundError(
        `network config ${key} not found in etcd at ${this.o.client.endpoint}: create it with the etcd v3 API, e.g. ` +
          `ETCDCTL_API=3 etcdctl put ${key} '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'`,
      );
    }
    const cfg = checkNetworkConfig(parseNetworkConfig(kv.value, `etcd key ${key}`), `etcd key ${key}`);
    if (!cfg.enableIPv4) {
      throw new ConfigError(
        "EnableIPv4",
        `etcd key ${key}: "EnableIPv4" is false, but etcd lease keys start with the IPv4 ` +
          "subnet: enable IPv4 (dual-stack works) or use --kube-subnet-mgr for IPv6-only",
      );
    }
    this.config = cfg;
    return cfg;
  }

  private toLease(kv: KeyValue): StoredLease | undefined {
    const sn = parseSubnetKey(kv.key.slice(this.subnetsPrefix.length));
    if (!sn) return undefined;
    let attrs: LeaseAttrs;
    try {
      attrs = parseLeaseAttrs(kv.value);
    } catch (e) {
      this.log.warn("ignoring lease with bad attributes", { key: kv.key, error: errorMessage(e) });
      return undefined;
    }
    return {
      lease: { ...sn, attrs },
      key: kv.key,
      modRevision: kv.modRevision,
      createRevision: kv.createRevision,
      etcdLease: kv.lease,
    };
  }

  /** The snapshot left by the previous startup step (once), else a fresh listing. */
  private async snapshotOrList(signal: AbortSignal): Promise<Snapshot> {
    const s = this.snapshot;
    this.snapshot = undefined;
    return s ?? this.readLeases(signal);
  }

  async listLeases(signal: AbortSignal): Promise<Lease[]> {
    return (await this.readLeases(signal)).leases.map((l) => l.lease);
  }

  private async readLeases(signal: AbortSignal): Promise<Snapshot> {
    const { kvs, revision } = await this.o.client.list(this.subnetsPrefix, { signal });
    return { leases: kvs.map((kv) => this.toLease(kv)).filter((l): l is StoredLease => l !== undefined), revision };
  }

  private requireConfig(): NetworkConfig {
    if (!this.config) throw new Error("EtcdSubnetManager: getNetworkConfig must succeed before acquireLease");
    return this.config;
  }

  async previousAttrs(publicIP: string, signal: AbortSignal): Promise<LeaseAttrs | undefined> {
    this.snapshot = await this.readLeases(signal);
    return this.snapshot.leases.find((l) => l.lease.attrs.PublicIP === publicIP)?.lease.attrs;
  }

  async acquireLease(attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease> {
    const cfg = this.requireConfig();
    for (let i = 0; i < RACE_RETRIES; i++) {
      const got = await this.tryAcquire(cfg, attrs, signal);
      if (got) return got;
      this.log.info("lost a race for a subnet, trying again", { attempt: i + 1 });
    }
    throw new Error(
      `could not acquire a subnet after ${RACE_RETRIES} attempts: too ` +
        "many nodes are racing for the same subnets; restart flanneld",
    );
  }

  private mine(cfg: NetworkConfig, l: Lease, attrs: LeaseAttrs): boolean {
    return cfg.enableIPv4 ? l.attrs.PublicIP === attrs.PublicIP : l.attrs.PublicIPv6 === attrs.PublicIPv6;
  }

  /** One attempt; undefined when another node won a race (caller retries). */
  private async tryAcquire(cfg: NetworkConfig, attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease | undefined> {
    const snap = await this.snapshotOrList(signal);
    const leases = snap.leases;
    const value = formatLeaseAttrs(attrs);
    const existing = leases.find((l) => this.mine(cfg, l.lease, attrs));
    if (existing) {
      if (fitsConfig(cfg, existing.lease)) {
        const reservation = existing.etcdLease === "0";
        const leaseId = reservation ? undefined : (await this.o.client.leaseGrant(this.ttl, signal)).id;
        const ok = await this.o.client.putIfUnchanged(existing.key, value, existing.modRevision, {
          ...(leaseId ? { lease: leaseId } : {}),
          signal,
        });
        if (!ok) return this.revokeQuietly(leaseId);
        // The key now hangs on the new etcd lease; the old one would only linger until it expires.
        if (!reservation) await this.revokeQuietly(existing.etcdLease);
        this.log.info(reservation ? "using reserved subnet" : "reusing the lease of this public IP", {
          subnet: describeLease(existing.lease),
        });
        this.snapshot = snap;
        return this.remember(existing.key, existing.lease, attrs, leaseId, value);
      }
      this.log.info("deleting this node's lease: it no longer fits the network config", { key: existing.key });
      await this.o.client.delete(existing.key, { signal });
    }
    const others = leases.filter((l) => l !== existing).map((l) => l.lease);
    const prev = this.o.previous;
    let chosen: { subnet?: IpNet; subnetV6?: IpNet } | undefined;
    if (prev && (prev.subnet || prev.subnetV6) && fitsConfig(cfg, prev) && !others.some((l) => clash(l, prev))) {
      chosen = {
        ...(cfg.enableIPv4 && prev.subnet ? { subnet: prev.subnet } : {}),
        ...(cfg.enableIPv6 && prev.subnetV6 ? { subnetV6: prev.subnetV6 } : {}),
      };
      this.log.info("trying the subnet of the previous subnet.env", { subnet: describeLease(chosen) });
    } else {
      chosen = allocateSubnet(cfg, others, this.o.rng);
    }
    if (!chosen?.subnet) {
      throw new NoFreeSubnetError(
        `no free subnet left between SubnetMin and SubnetMax of ${this.prefix}/config: widen ` +
          `Network or SubnetMin/SubnetMax, or delete stale leases under ${this.subnetsPrefix}`,
      );
    }
    const key = this.subnetsPrefix + subnetKey(chosen.subnet, chosen.subnetV6);
    const leaseId = (await this.o.client.leaseGrant(this.ttl, signal)).id;
    if (!(await this.o.client.create(key, value, { lease: leaseId, signal }))) return this.revokeQuietly(leaseId);
    if (chosen.subnetV6 && (await this.lostDualStackRace(key, chosen, signal))) {
      await this.o.client.delete(key, { signal });
      return this.revokeQuietly(leaseId);
    }
    this.log.info("acquired a new subnet lease", { subnet: describeLease(chosen), key });
    // The watch starts from this snapshot, unless it still holds a lease of ours just deleted.
    if (!existing) this.snapshot = snap;
    return this.remember(key, chosen, attrs, leaseId, value);
  }

  /**
   * A dual-stack key names both subnets, so the create-if-absent above only guards that exact pair:
   * two nodes racing can each create a key sharing one family's subnet (flannel has this hole). Re-read
   * the leases: when an older key (lower create revision) overlaps ours in either family, ours backs
   * off. Whatever the interleaving, exactly the oldest of the clashing keys survives.
   */
  private async lostDualStackRace(
    key: string,
    chosen: { subnet?: IpNet; subnetV6?: IpNet },
    signal: AbortSignal,
  ): Promise<boolean> {
    const { leases } = await this.readLeases(signal);
    const mine = leases.find((l) => l.key === key);
    if (!mine) return true;
    const rival = leases.find((l) => l.key !== key && clash(l.lease, chosen) && l.createRevision < mine.createRevision);
    if (rival)
      this.log.info("another node took an overlapping subnet first; trying again", { ours: key, theirs: rival.key });
    return rival !== undefined;
  }

  private get ttl(): number {
    return this.o.ttlSeconds ?? 86400;
  }

  private async revokeQuietly(leaseId: string | undefined): Promise<undefined> {
    if (leaseId) await this.o.client.leaseRevoke(leaseId).catch(() => undefined);
    return undefined;
  }

  private remember(
    key: string,
    sn: { subnet?: IpNet; subnetV6?: IpNet },
    attrs: LeaseAttrs,
    leaseId: string | undefined,
    value: string,
  ): Lease {
    const expiration = leaseId ? Date.now() + this.ttl * 1000 : Number.POSITIVE_INFINITY;
    this.own = { key, leaseId: leaseId ?? "0", expiration, value };
    return {
      ...(sn.subnet ? { subnet: sn.subnet } : {}),
      ...(sn.subnetV6 ? { subnetV6: sn.subnetV6 } : {}),
      attrs,
      ...(leaseId ? { expiration: new Date(expiration) } : {}),
    };
  }

  /** Renew before expiry and watch the own key until `signal` aborts; LeaseLostError when it goes. */
  async completeLease(lease: Lease, signal: AbortSignal): Promise<void> {
    const own = this.own;
    if (!own || !sameSubnets(lease, parseSubnetKey(own.key) ?? {}))
      throw new Error("completeLease: lease was not acquired by this manager");
    const inner = new AbortController();
    const unlink = onAbort(signal, () => inner.abort());
    try {
      await Promise.race([this.renewLoop(inner.signal), this.watchOwn(own.key, inner.signal)]);
    } finally {
      unlink();
      inner.abort();
    }
  }

  private async renewLoop(signal: AbortSignal): Promise<void> {
    const margin = this.o.renewMarginMs ?? 60 * 60_000;
    while (!signal.aborted) {
      const own = this.own;
      if (!own || own.leaseId === "0") {
        // A reservation (key without etcd lease) never expires: nothing to renew.
        while (!signal.aborted) await sleep(2 ** 31 - 1, signal);
        return;
      }
      // At least a second between renewals, even when the margin is longer than the TTL.
      const due = Math.max(own.expiration - margin, (own.renewedAt ?? 0) + 1000);
      await sleep(Math.min(due - Date.now(), 2 ** 31 - 1), signal);
      if (signal.aborted) return;
      if (Date.now() < due) continue;
      try {
        await this.renewOnce(own, signal);
      } catch (e) {
        if (e instanceof LeaseLostError) throw e;
        if (signal.aborted) return;
        this.stats.errors++;
        this.log.error("renewing the subnet lease failed, retrying", { key: own.key, error: errorMessage(e) });
        await sleep(this.o.renewRetryMs ?? 60_000, signal);
      }
    }
  }

  private async renewOnce(own: NonNullable<EtcdSubnetManager["own"]>, signal: AbortSignal): Promise<void> {
    const ttl = await this.o.client.leaseKeepAliveOnce(own.leaseId, signal).catch(() => 0);
    if (ttl > 0) {
      this.own = { ...own, expiration: Date.now() + ttl * 1000, renewedAt: Date.now() };
      this.log.info("renewed the subnet lease", { key: own.key, ttl_s: ttl });
      return;
    }
    // The etcd lease is gone: attach the key to a new lease if it is still ours.
    const { kv } = await this.o.client.get(own.key, signal);
    if (!kv || kv.value !== own.value) throw new LeaseLostError(`lease ${own.key} is gone from etcd`);
    const id = (await this.o.client.leaseGrant(this.ttl, signal)).id;
    if (!(await this.o.client.putIfUnchanged(own.key, own.value, kv.modRevision, { lease: id, signal }))) {
      await this.revokeQuietly(id);
      throw new LeaseLostError(`lease ${own.key} changed while renewing it`);
    }
    this.own = { ...own, leaseId: id, expiration: Date.now() + this.ttl * 1000, renewedAt: Date.now() };
    this.log.info("renewed the subnet lease with a new etcd lease", { key: own.key });
  }

  /** Watch the own key; a delete, or a put by another node, means the lease is lost. */
  private async watchOwn(key: string, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(100, 5000);
    let rev = 0;
    let watches = 0;
    while (!signal.aborted) {
      if (rev === 0) {
        const { kv, revision } = await this.o.client.get(key, signal).catch(() => {
          this.stats.errors++;
          return { kv: null, revision: 0 };
        });
        if (kv === undefined) throw new LeaseLostError(`lease ${key} was removed from etcd`);
        rev = revision;
        if (rev === 0) {
          await sleep(backoff.next(), signal);
          continue;
        }
      }
      let lost: LeaseLostError | undefined;
      let compacted = false;
      const ac = new AbortController();
      const unlink = onAbort(signal, () => ac.abort());
      if (watches++ > 0) this.stats.reconnects++;
      try {
        await this.o.client.watch(key, { startRevision: rev + 1, signal: ac.signal }, (r) => {
          if (r.canceled) {
            compacted = r.compactRevision > 0;
            ac.abort();
            return;
          }
          backoff.reset();
          rev = Math.max(rev, r.revision);
          for (const e of r.events) {
            if (e.type === "delete")
              lost = new LeaseLostError(`lease ${key} was removed from etcd (deleted or expired)`);
            else if (this.own && e.kv.value !== this.own.value)
              lost = new LeaseLostError(`lease ${key} was overwritten by another writer: ${e.kv.value}`);
          }
          if (lost) ac.abort();
        });
      } catch (e) {
        if (!signal.aborted && !lost) {
          this.stats.errors++;
          this.log.warn("own lease watch broke, reconnecting", { error: errorMessage(e) });
        }
      } finally {
        unlink();
      }
      if (lost) throw lost;
      if (compacted) {
        this.log.warn("own lease watch: revision compacted, re-reading the lease", { key });
        rev = 0;
      }
      if (!signal.aborted) await sleep(backoff.next(), signal);
    }
  }

  async watchLeases(own: Lease, onEvents: LeaseEventHandler, signal: AbortSignal): Promise<void> {
    const watcher = new LeaseWatcher(own);
    const backoff = new Backoff(100, 5000);
    let first = true;
    let revision = 0;
    const listing = new WaitLog(this.log, "etcd (listing leases)");
    let watches = 0;
    while (!signal.aborted) {
      if (revision === 0) {
        try {
          const snap = first ? await this.snapshotOrList(signal) : await this.readLeases(signal);
          listing.succeeded({ endpoint: this.o.client.endpoint });
          const batch = watcher.reset(snap.leases.map((l) => l.lease));
          revision = snap.revision;
          if (first || batch.length > 0) await onEvents(batch);
          first = false;
          if (signal.aborted) return;
        } catch (e) {
          if (signal.aborted) return;
          this.stats.errors++;
          listing.failed(e, { endpoint: this.o.client.endpoint });
          await sleep(backoff.next(), signal);
          continue;
        }
      }
      if (watches++ > 0) this.stats.reconnects++;
      const r = await this.followWatch(watcher, revision, onEvents, signal);
      revision = r.compacted ? 0 : r.revision;
      if (signal.aborted) return;
      if (r.progressed) backoff.reset();
      await sleep(backoff.next(), signal);
    }
  }

  /**
   * Follow the watch from `revision`+1 until it breaks or is canceled. Returns the revision to
   * resume from, whether anything was delivered, and whether a resync from a snapshot is needed.
   */
  private async followWatch(
    watcher: LeaseWatcher,
    revision: number,
    onEvents: LeaseEventHandler,
    signal: AbortSignal,
  ): Promise<{ revision: number; progressed: boolean; compacted: boolean }> {
    const ac = new AbortController();
    const unlink = onAbort(signal, () => ac.abort());
    let progressed = false;
    let compacted = false;
    let rev = revision;
    let chain: Promise<void> = Promise.resolve();
    try {
      await this.o.client.watch(
        this.subnetsPrefix,
        { prefix: true, startRevision: revision + 1, progressNotify: true, signal: ac.signal },
        (r: WatchResponse) => {
          if (r.canceled) {
            compacted = true;
            if (r.compactRevision > 0)
              this.log.warn("lease watch: revision compacted, resyncing from a snapshot", {
                from: revision + 1,
                compact_revision: r.compactRevision,
              });
            else this.log.warn("lease watch canceled by etcd, resyncing from a snapshot", { reason: r.cancelReason });
            ac.abort();
            return;
          }
          if (r.created) {
            this.watchWait.succeeded({ endpoint: this.o.client.endpoint });
            return;
          }
          if (r.events.length === 0) {
            // A progress notification: everything up to this revision was delivered, so a later
            // reconnect can resume from here instead of an old revision that may be compacted.
            rev = Math.max(rev, r.revision);
            return;
          }
          progressed = true;
          for (const e of r.events) rev = Math.max(rev, e.kv.modRevision);
          const batch = watcher.update(r.events.flatMap((e) => this.toEvent(watcher, e.type, e.kv)));
          if (batch.length > 0) chain = chain.then(() => onEvents(batch));
        },
      );
    } catch (e) {
      if (!signal.aborted && !ac.signal.aborted) {
        this.stats.errors++;
        this.watchWait.failed(e, { endpoint: this.o.client.endpoint });
      }
    } finally {
      unlink();
    }
    await chain;
    return { revision: rev, progressed, compacted };
  }

  private toEvent(watcher: LeaseWatcher, type: "put" | "delete", kv: KeyValue): LeaseEvent[] {
    if (type === "put") {
      const l = this.toLease(kv);
      return l ? [{ type: "added", lease: l.lease }] : [];
    }
    const sn = parseSubnetKey(kv.key.slice(this.subnetsPrefix.length));
    if (!sn) return [];
    const known = watcher.find(sn);
    return [{ type: "removed", lease: known ?? { ...sn, attrs: { PublicIP: "0.0.0.0" } } }];
  }
}

function clash(l: Lease, s: { subnet?: IpNet; subnetV6?: IpNet }): boolean {
  return (
    (!!l.subnet && !!s.subnet && overlaps(l.subnet, s.subnet)) ||
    (!!l.subnetV6 && !!s.subnetV6 && overlaps(l.subnetV6, s.subnetV6))
  );
}
