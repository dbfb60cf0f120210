/**
 * Root-test driver (run with `bun` inside a netns): generic netlink against this kernel. Prints one
 * JSON object: the controller's own family, every family name, what resolving "wireguard" gives,
 * and what creating a "wireguard" link gives. With the kernel module present (argv[2] = "full")
 * it also creates wgtest0, sets a key, port and peer over WG_CMD_SET_DEVICE and reads it back.
 */
import { NetlinkError } from "../errors.ts";
import { decodeFamily, dumpFamiliesRequest, getFamilyRequest, NETLINK_GENERIC } from "../netlink/genetlink.ts";
import { KernelTransport } from "../netlink/kernel-transport.ts";
import { openNetlink } from "../netlink/open.ts";
import { NetlinkSocket } from "../netlink/socket.ts";
import { WireguardGenl } from "../wireguard/genl-client.ts";

const err = (e: unknown) => ({
  name: (e as Error).name,
  code: (e as { code?: string }).code ?? "",
  errno: e instanceof NetlinkError ? e.errno : undefined,
  message: (e as Error).message,
});
const sock = new NetlinkSocket(new KernelTransport({ protocol: NETLINK_GENERIC }));
const out: Record<string, unknown> = {};
out["nlctrl"] = decodeFamily(sock.get(getFamilyRequest("nlctrl")));
out["families"] = sock.dump(dumpFamiliesRequest()).map((m) => decodeFamily(m).name);
const wg = new WireguardGenl(new NetlinkSocket(new KernelTransport({ protocol: NETLINK_GENERIC })));
try {
  out["wireguard"] = { ok: true, family: wg.resolve() };
} catch (e) {
  out["wireguard"] = { ok: false, error: err(e) };
}
const nl = openNetlink();
try {
  nl.createWireguard({ name: "wgtest0", mtu: 1420 });
  out["link"] = { ok: true, kind: nl.getLink("wgtest0").kind };
  if (process.argv[2] === "full") {
    const key = (b: number) => Buffer.alloc(32, b).toString("base64");
    wg.setDevice("wgtest0", {
      privateKey: key(0x40),
      listenPort: 51820,
      replacePeers: true,
      peers: [
        {
          publicKey: key(2),
          endpoint: "192.0.2.12:51820",
          persistentKeepalive: 25,
          replaceAllowedIps: true,
          allowedIps: ["10.244.2.0/24"],
        },
      ],
    });
    out["device"] = wg.getDevice("wgtest0");
  }
} catch (e) {
  out["link"] = { ok: false, error: err(e) };
}
process.stdout.write(JSON.stringify(out, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
