/**
 * flanneld itself (its health port and its own probe answer) and every peer: a route to the peer's
 * subnet through the backend, then the node probe (daemon/probe/) sent through the overlay to the
 * peer's device address and to its public address. Overlay answered: the encapsulated path works
 * both ways. Only the public address answered: the peer's flanneld is up but the overlay is not
 * (UDP 8472 blocked, the peer not routing back). Neither: the node, its flanneld or UDP is down.
 */
import { formatIp, type IpNet } from "../../../net/prefix.ts";
import { describeLease, type Lease } from "../../lease.ts";
import { errorMessage } from "../../log.ts";
import { fail, ok, skip, type CheckResult } from "../check.ts";
import type { DoctorContext } from "../context.ts";
import type { NodeFacts } from "../facts.ts";
import { envSubnets, leaseText } from "../facts.ts";
import { overlayDevice } from "./links.ts";

/** The HTTP address of this node's health port (0.0.0.0 is reached on loopback). */
function healthHost(ctx: DoctorContext): string {
  const ip = ctx.flags.healthzIp;
  if (ip === "0.0.0.0" || ip === "") return "127.0.0.1";
  if (ip === "::") return "::1";
  return ip;
}

export async function flanneldCheck(ctx: DoctorContext, f: NodeFacts): Promise<CheckResult> {
  const title = "flanneld";
  const port = ctx.flags.healthzPort;
  if (port <= 0)
    return skip(
      "flanneld",
      title,
      "--healthz-port is 0: give the doctor flanneld's --healthz-port to check it and its peers",
    );
  const host = healthHost(ctx);
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/readyz`;
  const r = await ctx.http(url, 2000);
  if ("error" in r)
    return fail(
      "flanneld",
      title,
      `${url}: ${r.error}`,
      "flanneld is not running, or with another --healthz-ip/--healthz-port",
    );
  if (r.status !== 200)
    return fail(
      "flanneld",
      title,
      `${url}: ${r.status} ${r.body.trim()}`,
      "flanneld has not finished starting: read its log",
    );
  const from = describeLease(envSubnets(f.subnetEnv));
  const p = await ctx.probe({ address: host, port, from, timeoutMs: ctx.options.probeTimeoutMs });
  if (!p.ok)
    return fail(
      "flanneld",
      title,
      `ready, but it does not answer node probes on UDP ${host}:${port} (${p.error})`,
      "peers cannot check this node: run a Weft flanneld that answers probes (this version), " +
        "and open UDP on the health port",
    );
  return ok(
    "flanneld",
    title,
    `ready; answers probes (${p.reply.version ? `weft ${p.reply.version}, ` : ""}${p.reply.subnet})`,
  );
}

function encapName(f: NodeFacts): string {
  const t = f.config?.backend.type;
  const port = f.config?.backend.port ?? 0;
  if (t === "vxlan") return `VXLAN UDP ${port || 8472}`;
  if (t === "udp") return `flannel's UDP ${port || 8285}`;
  if (t === "ipip") return "IP protocol 4 (ipip)";
  if (t === "wireguard") return "WireGuard UDP";
  return "the underlay";
}

async function peerCheck(ctx: DoctorContext, f: NodeFacts, peer: Lease, own: { subnet?: IpNet; subnetV6?: IpNet }) {
  const id = `peer/${describeLease(peer)}`;
  const title = `peer ${leaseText(peer)}`;
  const port = ctx.flags.healthzPort;
  const from = describeLease(own);
  const pub = peer.attrs.PublicIP !== "0.0.0.0" ? peer.attrs.PublicIP : peer.attrs.PublicIPv6;
  const family: 4 | 6 = peer.subnet && own.subnet ? 4 : 6;
  const peerNet = family === 4 ? peer.subnet : peer.subnetV6;
  const ownNet = family === 4 ? own.subnet : own.subnetV6;
  const dev = overlayDevice(f, family);
  const name = (i: number | undefined) => f.links.find((l) => l.index === i)?.name ?? `index ${i}`;
  let overlay: Awaited<ReturnType<DoctorContext["probe"]>> | undefined;
  let routeNote = "";
  if (dev && peerNet && ownNet) {
    const target = formatIp(family, peerNet.ip);
    let via: string;
    let gw: string | undefined;
    try {
      const r = ctx.nl.getRouteTo(target);
      via = name(r.oif);
      gw = r.gateway;
    } catch (e) {
      via = `none (${errorMessage(e)})`;
    }
    const direct = f.config?.backend.directRouting && gw === pub;
    if (via !== dev && !direct) {
      return fail(
        id,
        title,
        `${target} is routed via ${via}, not ${dev}: this node has not programmed the peer`,
        "flanneld adds the route when it sees the peer's lease and puts it back within 10 s: is flanneld running, " +
          "and does its log show the peer? (weft_peers_programmed on /metrics)",
      );
    }
    overlay = await ctx.probe({
      address: target,
      port,
      bindAddress: formatIp(family, ownNet.ip),
      from,
      timeoutMs: ctx.options.probeTimeoutMs,
    });
    routeNote = direct ? ` (direct routing via ${via})` : "";
  }
  if (overlay?.ok) return ok(id, title, `${pub}: answers through ${dev}${routeNote} in ${overlay.rttMs.toFixed(1)} ms`);
  const under = pub
    ? await ctx.probe({ address: pub, port, from, timeoutMs: ctx.options.probeTimeoutMs })
    : ({ ok: false, error: "no public address in its lease" } as const);
  if (!overlay) {
    // host-gw, alloc, extension: no device of ours to send through
    if (under.ok)
      return ok(id, title, `${pub}: flanneld answers (${f.config?.backend.type}: no overlay device to test)`);
    return fail(id, title, `${pub}: no answer (${under.error})`, unreachableFix(pub, port));
  }
  if (under.ok) {
    const knows = under.reply.knowsSender === false ? `; it does not know this node's lease ${from}` : "";
    return fail(
      id,
      title,
      `${pub}: flanneld answers on its public address but not through ${dev} (${overlay.error})${knows}`,
      under.reply.knowsSender === false
        ? `the peer has not seen this node's lease: check its flanneld log and that both use the same store`
        : `${encapName(f)} between this node and ${pub} is blocked or the peer does not route back: allow it both ` +
            "ways in firewalls / security groups, and check the peer's routes to this node's subnet",
    );
  }
  return fail(
    id,
    title,
    `${pub}: no answer through ${dev} (${overlay.error}) nor on its public address (${under.error})`,
    unreachableFix(pub, port),
  );
}

function unreachableFix(pub: string | undefined, port: number): string {
  return (
    `the node ${pub ?? ""} is down, its flanneld is not running (or is not Weft's, or runs without ` +
    `--healthz-port=${port}), or a firewall drops UDP ${port} between the nodes`
  );
}

export async function peersCheck(ctx: DoctorContext, f: NodeFacts): Promise<CheckResult[]> {
  if (ctx.flags.healthzPort <= 0)
    return [skip("peers", "peers", "--healthz-port is 0: the probe goes to each peer's health port")];
  if (!f.leases) return [skip("peers", "peers", "the leases could not be read")];
  const own = envSubnets(f.subnetEnv);
  const mine = describeLease(own);
  const peers = f.leases.filter((l) => describeLease(l) !== mine && l !== f.own);
  if (peers.length === 0) return [ok("peers", "peers", "no other node holds a lease")];
  return Promise.all(peers.map((p) => peerCheck(ctx, f, p, own)));
}
