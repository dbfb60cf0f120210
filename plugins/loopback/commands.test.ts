import { describe, expect, it } from "vitest";
import { CniError, ErrorCode } from "../../libcni/types/error.ts";
import type { Result100 } from "../../libcni/types/result.ts";
import { NetnsNotFoundError, NotNetnsError } from "../../linux/errors.ts";
import { RecordingNetlink } from "../../linux/testing/recording-client.ts";
import { loopbackAdd, loopbackCheck, loopbackCommands, loopbackDel, type LoopbackDeps } from "./commands.ts";

const NETNS = "/var/run/netns/pod1";

/** A pod netns whose lo has the addresses the kernel gives it when it comes up. */
function pod(addrs: readonly string[] = ["127.0.0.1/8", "::1/128"]): {
  nl: RecordingNetlink;
  deps: LoopbackDeps;
  opened: string[];
} {
  const nl = new RecordingNetlink();
  for (const a of addrs) nl.addAddr("lo", a);
  const opened: string[] = [];
  return {
    nl,
    opened,
    deps: {
      openNetlink: (p) => {
        opened.push(p);
        return nl;
      },
    },
  };
}

const failing = (e: Error): LoopbackDeps => ({
  openNetlink: () => {
    throw e;
  },
});

async function codeOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return e instanceof CniError ? e.code : -1;
  }
}

describe("loopback ADD", () => {
  it("sets lo up in CNI_NETNS and reports lo with its IPv4 and IPv6 loopback addresses on interface 0", async () => {
    const { nl, deps, opened } = pod();
    const r = await loopbackAdd({ netns: NETNS }, deps);
    expect(opened).toEqual([NETNS]);
    expect(nl.calls.map((c) => c.method)).toEqual(["addAddr", "addAddr", "getLink", "setLink", "listAddrs", "close"]);
    expect(nl.getLink("lo").up).toBe(true);
    expect(r).toEqual({
      cniVersion: "1.1.0",
      interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox: NETNS }],
      ips: [
        { interface: 0, address: "127.0.0.1/8" },
        { interface: 0, address: "::1/128" },
      ],
    });
  });

  it("leaves out families lo has no address in (IPv6 disabled)", async () => {
    const r = (await loopbackAdd({ netns: NETNS }, pod(["127.0.0.1/8"]).deps)) as Result100;
    expect(r.ips).toEqual([{ interface: 0, address: "127.0.0.1/8" }]);
  });

  it("passes a prevResult through unchanged, after still bringing lo up", async () => {
    const prev: Result100 = {
      cniVersion: "1.1.0",
      interfaces: [{ name: "eth0", sandbox: NETNS }],
      ips: [{ interface: 0, address: "10.244.1.5/24" }],
    };
    const { nl, deps } = pod();
    expect(await loopbackAdd({ netns: NETNS, prevResult: prev }, deps)).toBe(prev);
    expect(nl.getLink("lo").up).toBe(true);
  });

  it("refuses a lo carrying a non-loopback address", async () => {
    await expect(loopbackAdd({ netns: NETNS }, pod(["127.0.0.1/8", "10.0.0.1/8"]).deps)).rejects.toThrow(
      /non-loopback address "10.0.0.1"/,
    );
  });

  it("answers code 3 for a netns that does not exist and 4 for a path that is not a netns", async () => {
    expect(await codeOf(loopbackAdd({ netns: NETNS }, failing(new NetnsNotFoundError(NETNS))))).toBe(
      ErrorCode.UnknownContainer,
    );
    expect(
      await codeOf(loopbackAdd({ netns: "/etc/hostname" }, failing(new NotNetnsError("/etc/hostname", 0xef53)))),
    ).toBe(ErrorCode.InvalidEnvironmentVariables);
  });
});

describe("loopback DEL", () => {
  it("sets lo down", async () => {
    const { nl, deps } = pod();
    nl.setLinkUp("lo");
    await loopbackDel({ netns: NETNS }, deps);
    expect(nl.getLink("lo").up).toBe(false);
  });

  it("leaves lo up in a namespace another interface is up in (a live pod's)", async () => {
    const { nl, deps } = pod();
    nl.setLinkUp("lo");
    nl.createDummy({ name: "eth0" });
    nl.setLinkUp("eth0");
    await loopbackDel({ netns: NETNS }, deps);
    expect(nl.getLink("lo").up).toBe(true);
    nl.setLinkDown("eth0");
    await loopbackDel({ netns: NETNS }, deps);
    expect(nl.getLink("lo").up).toBe(false);
  });

  it("succeeds without touching anything when the netns is gone or CNI_NETNS is empty", async () => {
    await expect(loopbackDel({ netns: NETNS }, failing(new NetnsNotFoundError(NETNS)))).resolves.toBeUndefined();
    const { deps, opened } = pod();
    await loopbackDel({ netns: "" }, deps);
    expect(opened).toEqual([]);
  });

  it("still fails for a path that is not a netns", async () => {
    expect(await codeOf(loopbackDel({ netns: "/etc/hostname" }, failing(new NotNetnsError("/etc/hostname", 0))))).toBe(
      ErrorCode.InvalidEnvironmentVariables,
    );
  });
});

describe("loopback CHECK", () => {
  it("passes when lo is up and fails with 'loopback interface is down' otherwise", async () => {
    const { nl, deps } = pod();
    await expect(loopbackCheck({ netns: NETNS }, deps)).rejects.toThrow("loopback interface is down");
    nl.setLinkUp("lo");
    await expect(loopbackCheck({ netns: NETNS }, deps)).resolves.toBeUndefined();
  });

  it("is wired into the PluginFuncs skel runs", async () => {
    const { nl, deps } = pod();
    const funcs = loopbackCommands(deps);
    expect(typeof funcs.check).toBe("function");
    const args = { netns: NETNS } as Parameters<typeof funcs.add>[0];
    await funcs.add(args);
    await funcs.check?.(args);
    await funcs.del(args);
    expect(nl.getLink("lo").up).toBe(false);
  });
});
