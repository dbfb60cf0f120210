/**
 * Regenerates linux/netlink/testdata/kernel-messages.json: message bodies the kernel sent for a
 * known setup, used by the codec unit tests. Run as root with bun after building the setup:
 *
 *   N=wlcap; ip netns add $N
 *   ip -n $N link add br0 type bridge
 *   ip -n $N link add vb0 mtu 1450 address 02:00:00:00:00:0b type veth peer name vb1
 *   ip -n $N link set vb0 master br0; ip -n $N link set vb0 type bridge_slave hairpin on
 *   ip -n $N link set vb0 up; ip -n $N link set vb1 up
 *   ip -n $N addr add 192.0.2.1/24 brd + dev vb1; ip -n $N addr add fd00:10::1/64 dev vb1 nodad
 *   ip -n $N link add vx1 address 02:00:00:00:00:0c type vxlan id 1 local 192.0.2.1 dev vb1 \
 *     dstport 8472 nolearning ttl 64
 *   ip -n $N link set vx1 up
 *   ip -n $N route add 10.244.3.0/24 via 10.244.3.0 dev vx1 onlink
 *   ip -n $N route add 10.244.4.0/24 via 192.0.2.3 dev vb1 table 100 metric 50 mtu 1400 advmss 1360
 *   ip -n $N neigh replace 10.244.3.0 lladdr aa:bb:cc:dd:ee:01 dev vx1 nud permanent
 *   bridge -n $N fdb append 00:00:00:00:00:00 dev vx1 dst 192.0.2.20 self permanent
 *   bun linux/testing/capture-fixtures.ts > linux/netlink/testdata/kernel-messages.json
 *   ip netns del $N
 */
import { NetlinkSocket } from "../netlink/socket.ts";
import { KernelTransport } from "../netlink/kernel-transport.ts";
import { withNetns } from "../netns.ts";
import { getLinkRequest } from "../netlink/link.ts";
import { dumpAddrsRequest } from "../netlink/addr.ts";
import { dumpRoutesRequest } from "../netlink/route.ts";
import { dumpNeighsRequest } from "../netlink/neigh.ts";
import type { NlMessage } from "../netlink/message.ts";

const s = withNetns("/run/netns/wlcap", () => new NetlinkSocket(new KernelTransport()));
const hex = (m: NlMessage | undefined): string => {
  if (!m) throw new Error("expected message not found; is the setup above in place?");
  return Buffer.from(m.body).toString("hex");
};
const has = (m: NlMessage, bytes: number[]): boolean => Buffer.from(m.body).includes(Buffer.from(bytes));
const flags = (m: NlMessage): number => new DataView(m.body.buffer, m.body.byteOffset).getUint32(8, true);
const routes = s.dump(dumpRoutesRequest(4));
const out = {
  veth: hex(s.get(getLinkRequest("vb0"))),
  vxlan: hex(s.get(getLinkRequest("vx1"))),
  bridge: hex(s.get(getLinkRequest("br0"))),
  addr4: hex(s.dump(dumpAddrsRequest(4)).find((m) => m.body[1] === 24)),
  addr6: hex(s.dump(dumpAddrsRequest(6)).find((m) => m.body[1] === 64 && has(m, [0xfd, 0, 0, 0x10]))),
  routeOnlink: hex(routes.find((m) => m.body[1] === 24 && (flags(m) & 4) !== 0)),
  routeMetrics: hex(routes.find((m) => m.body[4] === 100)),
  neigh: hex(s.dump(dumpNeighsRequest(4)).find((m) => m.body[8] === 0x80)),
  fdb: hex(s.dump(dumpNeighsRequest("bridge")).find((m) => has(m, [192, 0, 2, 20]))),
};
process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
