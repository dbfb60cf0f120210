import { describe, expect, it } from "vitest";
import { NetlinkError } from "../../linux/errors.ts";
import { Errno } from "../../linux/errno.ts";
import { NlWriter } from "../../linux/netlink/attrs.ts";
import { NLM_F_DUMP, NLM_F_MULTI } from "../../linux/netlink/constants.ts";
import { FakeTransport, datagram, doneMessage, errorMessage, rawMessage } from "../../linux/testing/fake-transport.ts";
import { CTRL_ATTR, GENL_ID_CTRL } from "../../linux/netlink/genetlink.ts";
import type { LinkCommonOptions } from "../../linux/netlink/link.ts";
import type { NlMessage } from "../../linux/netlink/message.ts";
import { RecordingNetlink } from "../../linux/testing/recording-client.ts";
import { NetlinkSocket } from "../../linux/netlink/socket.ts";
import { WG_CMD, WGDEVICE_A } from "../../linux/wireguard/genl.ts";
import { WireguardGenl } from "../../linux/wireguard/genl-client.ts";
import { memoryLogger } from "../testing/memory-logger.ts";
import { FakeNetOps } from "../testing/fake-netops.ts";
import { KernelWgOps } from "./kernel-wgops.ts";

const FAMILY = 0x21;

/** The kernel's generic netlink end: the wireguard family, acks for sets, one device for gets. */
function genlKernel(): FakeTransport {
  return new FakeTransport((m: NlMessage) => {
    if (m.type === GENL_ID_CTRL) {
      const w = new NlWriter();
      w.u8(1).u8(2).u16(0).attrStr(CTRL_ATTR.FAMILY_NAME, "wireguard").attrU16(CTRL_ATTR.FAMILY_ID, FAMILY);
      return [rawMessage(GENL_ID_CTRL, 0, m.seq, w.finish())];
    }
    if (m.flags & NLM_F_DUMP) {
      const w = new NlWriter();
      w.u8(WG_CMD.GET_DEVICE)
        .u8(1)
        .u16(0)
        .attrStr(WGDEVICE_A.IFNAME, "flannel-wg")
        .attrU16(WGDEVICE_A.LISTEN_PORT, 51820);
      return [datagram(rawMessage(FAMILY, NLM_F_MULTI, m.seq, w.finish()), doneMessage(m.seq))];
    }
    return [errorMessage(m, 0)];
  });
}

/** A netlink client whose kernel has no WireGuard link type. */
class NoWireguardNetlink extends RecordingNetlink {
  override createWireguard(o: LinkCommonOptions): void {
    throw new NetlinkError(Errno.EOPNOTSUPP, `RTM_NEWLINK wireguard ${o.name}`, "Unknown device type");
  }
}

describe("KernelWgOps", () => {
  it("uses the kernel's WireGuard when the link can be created, configured over generic netlink", async () => {
    const nl = new RecordingNetlink();
    const t = genlKernel();
    const ops = new KernelWgOps(nl, new FakeNetOps(), () => new WireguardGenl(new NetlinkSocket(t)), memoryLogger());
    const made = await ops.createDevice("flannel-wg", 1420);
    expect(made.impl).toBe("kernel");
    expect(nl.getLink("flannel-wg")).toMatchObject({ index: made.index, kind: "wireguard", mtu: 1420 });
    await ops.configure("flannel-wg", { privateKey: Buffer.alloc(32, 1).toString("base64"), listenPort: 51820 });
    expect(await ops.read("flannel-wg")).toMatchObject({ name: "flannel-wg", listenPort: 51820 });
    expect(t.sent.map((m) => [m.type, m.body[0]])).toEqual([
      [GENL_ID_CTRL, 3],
      [FAMILY, WG_CMD.SET_DEVICE],
      [FAMILY, WG_CMD.GET_DEVICE],
    ]);
    await ops.removeDevice("flannel-wg");
    expect(nl.findLink("flannel-wg")).toBeUndefined();
  });

  it("recreates a device that is already there, as flanneld does", async () => {
    const nl = new RecordingNetlink();
    nl.createWireguard({ name: "flannel-wg" });
    const old = nl.getLink("flannel-wg").index;
    const log = memoryLogger();
    const ops = new KernelWgOps(nl, new FakeNetOps(), () => new WireguardGenl(new NetlinkSocket(genlKernel())), log);
    const made = await ops.createDevice("flannel-wg", 1420);
    expect(made.index).not.toBe(old);
    expect(nl.calls.map((c) => c.method)).toEqual(expect.arrayContaining(["deleteLink", "createWireguard"]));
    expect(log.lines.some((l) => l.includes('\\"flannel-wg\\" already exists; recreating device'))).toBe(true);
  });

  it("without kernel WireGuard nor a runnable wireguard-go, says what to install or load", async () => {
    const ops = new KernelWgOps(
      new NoWireguardNetlink(),
      new FakeNetOps(),
      () => new WireguardGenl(new NetlinkSocket(genlKernel())),
      memoryLogger(),
      { command: "/nonexistent/wireguard-go" },
    );
    await expect(ops.createDevice("flannel-wg", 1420)).rejects.toThrow(
      /the kernel has no WireGuard and the userspace fallback failed .*modprobe wireguard.*install wireguard-go/,
    );
  });

  it("reports other link errors as they are, without falling back", async () => {
    class Busy extends RecordingNetlink {
      override createWireguard(): void {
        throw new NetlinkError(Errno.EPERM, "RTM_NEWLINK wireguard flannel-wg");
      }
    }
    const ops = new KernelWgOps(
      new Busy(),
      new FakeNetOps(),
      () => new WireguardGenl(new NetlinkSocket(genlKernel())),
      memoryLogger(),
      { command: "/nonexistent/wireguard-go" },
    );
    await expect(ops.createDevice("flannel-wg", 1420)).rejects.toThrow(
      /could not create wireguard interface flannel-wg: .*EPERM/,
    );
  });
});
