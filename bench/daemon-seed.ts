// Helper of bench/daemon-scale.ts, run inside the node netns (etcd on 127.0.0.1 there):
//   bun bench/daemon-seed.ts <endpoint> <first> <count>
// Puts <count> vxlan leases (10.244.0.0/16 in /29s, starting at index <first>) and prints, per key,
// the ms timestamp (performance.timeOrigin-based) just before its put, as JSON lines.
import { EtcdClient } from "../daemon/etcd/client.ts";

const [endpoint = "http://127.0.0.1:2379", firstS = "0", countS = "0"] = process.argv.slice(2);
const first = Number(firstS);
const count = Number(countS);
const client = new EtcdClient({ endpoints: [endpoint] });

export function leaseOf(i: number): { key: string; subnet: string; value: string } {
  const n = 8 + i; // skip the first /29s (10.244.0.0/29 is the network's first subnet)
  const a = (n * 8) >> 8;
  const b = (n * 8) & 255;
  const bytes = [(i >> 16) & 255, (i >> 8) & 255, i & 255, 1, 2];
  const mac = `0e:${bytes.map((x) => x.toString(16).padStart(2, "0")).join(":")}`;
  const pub = `192.0.2.${100 + (i % 150)}`;
  return {
    key: `/coreos.com/network/subnets/10.244.${a}.${b}-29`,
    subnet: `10.244.${a}.${b}/29`,
    value: JSON.stringify({
      PublicIP: pub,
      PublicIPv6: null,
      BackendType: "vxlan",
      BackendData: { VNI: 1, VtepMAC: mac },
    }),
  };
}

if (import.meta.main) {
  const lines: string[] = [];
  const queue = Array.from({ length: count }, (_, k) => first + k);
  const worker = async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      const l = leaseOf(i);
      const t = performance.timeOrigin + performance.now();
      await client.put(l.key, l.value);
      lines.push(JSON.stringify({ subnet: l.subnet, t }));
    }
  };
  await Promise.all(Array.from({ length: count > 1 ? 32 : 1 }, worker));
  process.stdout.write(lines.join("\n") + "\n");
  client.close();
}
