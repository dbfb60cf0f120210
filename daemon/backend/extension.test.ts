import { describe, expect, it } from "vitest";
import { parseNetworkConfig } from "../config.ts";
import type { ExternalInterface } from "../iface.ts";
import { parseCidr, type IpNet } from "../../net/prefix.ts";
import { formatLeaseAttrs, type Lease, type LeaseAttrs, type LeaseEvent } from "../lease.ts";
import { memoryLogger } from "../testing/memory-logger.ts";
import { extensionBackend, type ShellOptions, type ShellResult } from "./extension.ts";

const net = (s: string): IpNet => {
  const n = parseCidr(s);
  if (!n) throw new Error(s);
  return n;
};
const IFACE: ExternalInterface = {
  name: "eth0",
  index: 2,
  mtu: 1500,
  ipv4: "192.0.2.11",
  ipv6: "2001:db8:0:1::11",
  publicIP: "198.51.100.11",
  publicIPv6: "2001:db8:0:1::11",
};

interface Call {
  readonly command: string;
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: string;
}

/** A shell that records every command and answers from `answer` (default: exit 0, no output). */
function fakeShell(answer: (c: Call) => Partial<ShellResult> = () => ({})) {
  const calls: Call[] = [];
  const shell = async (command: string, o: ShellOptions): Promise<ShellResult> => {
    const c = { command, env: o.env, stdin: o.stdin };
    calls.push(c);
    const r = answer(c);
    return { exitCode: r.exitCode ?? 0, output: r.output ?? "", ...(r.error ? { error: r.error } : {}) };
  };
  return { calls, shell };
}

async function register(
  backend: Record<string, unknown>,
  o: { conf?: Record<string, unknown>; answer?: (c: Call) => Partial<ShellResult> } = {},
) {
  const { calls, shell } = fakeShell(o.answer);
  const config = parseNetworkConfig(
    JSON.stringify({ Network: "10.244.0.0/16", ...o.conf, Backend: { Type: "extension", ...backend } }),
    "test",
  );
  const log = memoryLogger();
  let published: LeaseAttrs | undefined;
  const callsBeforeLease: number[] = [];
  const nw = await extensionBackend(log, shell).register({
    config,
    extIface: IFACE,
    acquire: async (attrs) => {
      published = attrs;
      callsBeforeLease.push(calls.length);
      return {
        subnet: net("10.244.1.0/24"),
        ...(config.enableIPv6 ? { subnetV6: net("fd00:10:244:1::/64") } : {}),
        attrs,
      };
    },
    log,
    signal: new AbortController().signal,
  });
  return { nw, calls, log, published, callsBeforeLease };
}

const peer = (i: number, attrs: Partial<LeaseAttrs> = {}): Lease => ({
  subnet: net(`10.244.${i}.0/24`),
  attrs: { PublicIP: `192.0.2.${10 + i}`, BackendType: "extension", BackendData: `0e:00:00:00:00:0${i}`, ...attrs },
});

describe("extension backend", () => {
  it(
    "runs PreStartupCommand before leasing with an empty line on " +
      "stdin and publishes its trimmed output as the BackendData string",
    async () => {
      const { calls, published, callsBeforeLease } = await register(
        { PreStartupCommand: "cat /sys/class/net/x/address" },
        { answer: () => ({ output: "0e:aa:bb:cc:dd:ee" }) },
      );
      expect(calls).toEqual([{ command: "cat /sys/class/net/x/address", env: {}, stdin: "\n" }]);
      expect(callsBeforeLease).toEqual([1]);
      // flannel publishes the interface's own address (not --public-ip) and the output as a JSON string
      expect(formatLeaseAttrs(published ?? { PublicIP: "" })).toBe(
        '{"PublicIP":"192.0.2.11","PublicIPv6":null,"BackendType":"extension","BackendData":"0e:aa:bb:cc:dd:ee"}',
      );
    },
  );

  it(
    "publishes no BackendData without a PreStartupCommand, " + "and logs that it skipped both start-up commands",
    async () => {
      const { calls, published, log } = await register({});
      expect(calls).toEqual([]);
      expect(formatLeaseAttrs(published ?? { PublicIP: "" })).toBe(
        '{"PublicIP":"192.0.2.11","PublicIPv6":null,"BackendType":"extension"}',
      );
      expect(log.lines.some((l) => l.includes("No pre startup command configured - skipping"))).toBe(true);
      expect(log.lines.some((l) => l.includes("No post startup command configured - skipping"))).toBe(true);
    },
  );

  it(
    "runs PostStartupCommand after leasing with NETWORK, SUBNET, " +
      "IPV6SUBNET, PUBLIC_IP, PUBLIC_IPV6 as flannel renders them (IPv4 only)",
    async () => {
      const { calls, callsBeforeLease } = await register({ PostStartupCommand: "post.sh" });
      expect(callsBeforeLease).toEqual([0]);
      expect(calls).toEqual([
        {
          command: "post.sh",
          env: {
            NETWORK: "10.244.0.0/16",
            SUBNET: "10.244.1.0/24",
            IPV6SUBNET: "::/0",
            PUBLIC_IP: "192.0.2.11",
            PUBLIC_IPV6: "<nil>",
          },
          stdin: "\n",
        },
      ]);
    },
  );

  it("gives PostStartupCommand the IPv6 subnet and address in dual stack", async () => {
    const { calls, published } = await register(
      { PostStartupCommand: "post.sh" },
      { conf: { EnableIPv6: true, IPv6Network: "fd00:10:244::/56", IPv6SubnetLen: 64 } },
    );
    expect(calls[0]?.env).toEqual({
      NETWORK: "10.244.0.0/16",
      SUBNET: "10.244.1.0/24",
      IPV6SUBNET: "fd00:10:244:1::/64",
      PUBLIC_IP: "192.0.2.11",
      PUBLIC_IPV6: "2001:db8:0:1::11",
    });
    expect(published?.PublicIPv6).toBe("2001:db8:0:1::11");
  });

  it("reads the command keys case-insensitively and MTU from the interface", async () => {
    const { calls, nw } = await register({ prestartupcommand: "a", POSTSTARTUPCOMMAND: "b", MTU: 1400 });
    expect(calls.map((c) => c.command)).toEqual(["a", "b"]);
    expect(nw.mtu).toBe(1500);
  });

  it(
    "fails registration with the command, " + "status and output when PreStartupCommand fails, and leases nothing",
    async () => {
      let err: unknown;
      let leased = false;
      const { shell } = fakeShell(() => ({ exitCode: 3, output: "no such device" }));
      const config = parseNetworkConfig(
        JSON.stringify({ Network: "10.244.0.0/16", Backend: { Type: "extension", PreStartupCommand: "setup-vtep" } }),
        "test",
      );
      try {
        await extensionBackend(memoryLogger(), shell).register({
          config,
          extIface: IFACE,
          acquire: async (attrs) => ((leased = true), { subnet: net("10.244.1.0/24"), attrs }),
          log: memoryLogger(),
          signal: new AbortController().signal,
        });
      } catch (e) {
        err = e;
      }
      expect((err as Error).message).toBe(
        "failed to run command: setup-vtep Err: exit status 3 Output: no such device",
      );
      expect(leased).toBe(false);
    },
  );

  it("fails registration when PostStartupCommand fails", async () => {
    await expect(
      register({ PostStartupCommand: "post.sh" }, { answer: () => ({ exitCode: 1, output: "boom" }) }),
    ).rejects.toThrow("failed to run command: post.sh Err: exit status 1 Output: boom");
  });

  it("rejects a command that is not a string, naming the key", async () => {
    await expect(register({ SubnetAddCommand: ["ip", "route"] })).rejects.toThrow(
      /"Backend.SubnetAddCommand" must be a string/,
    );
  });

  it(
    "runs SubnetAddCommand per added peer and SubnetRemoveCommand per removed " +
      "one, in order, with SUBNET, PUBLIC_IP and the peer's BackendData on stdin",
    async () => {
      const { nw, calls } = await register({ SubnetAddCommand: "add", SubnetRemoveCommand: "remove" });
      const batch: LeaseEvent[] = [
        { type: "added", lease: peer(2) },
        { type: "added", lease: peer(3, { BackendData: undefined }) },
        { type: "removed", lease: peer(2) },
      ];
      await nw.handleEvents(batch);
      expect(calls).toEqual([
        { command: "add", env: { SUBNET: "10.244.2.0/24", PUBLIC_IP: "192.0.2.12" }, stdin: "0e:00:00:00:00:02\n" },
        { command: "add", env: { SUBNET: "10.244.3.0/24", PUBLIC_IP: "192.0.2.13" }, stdin: "\n" },
        { command: "remove", env: { SUBNET: "10.244.2.0/24", PUBLIC_IP: "192.0.2.12" }, stdin: "0e:00:00:00:00:02\n" },
      ]);
    },
  );

  it(
    "ignores peers of another backend type and peers whose " + "BackendData is not a string, with a log line each",
    async () => {
      const { nw, calls, log } = await register({ SubnetAddCommand: "add" });
      await nw.handleEvents([
        { type: "added", lease: peer(4, { BackendType: "vxlan" }) },
        { type: "added", lease: peer(5, { BackendData: { VtepMAC: "x" } }) },
      ]);
      expect(calls).toEqual([]);
      expect(log.lines.some((l) => l.includes("Ignoring non-extension subnet") && l.includes("type=vxlan"))).toBe(true);
      expect(log.lines.some((l) => l.includes("failed to unmarshal BackendData") && l.includes("10.244.5.0/24"))).toBe(
        true,
      );
    },
  );

  it("logs a failing SubnetAddCommand with its status and output and goes on with the next event", async () => {
    const { nw, calls, log } = await register(
      { SubnetAddCommand: "add" },
      {
        answer: (c) =>
          c.env["SUBNET"] === "10.244.6.0/24" ? { exitCode: 2, output: "RTNETLINK answers: File exists" } : {},
      },
    );
    await nw.handleEvents([
      { type: "added", lease: peer(6) },
      { type: "added", lease: peer(7) },
    ]);
    expect(calls.map((c) => c.env["SUBNET"])).toEqual(["10.244.6.0/24", "10.244.7.0/24"]);
    const line = log.lines.find((l) => l.includes("failed to run command")) ?? "";
    expect(line).toContain("level=error");
    expect(line).toContain("command=add");
    expect(line).toContain('error="exit status 2"');
    expect(line).toContain('output="RTNETLINK answers: File exists"');
  });
});
