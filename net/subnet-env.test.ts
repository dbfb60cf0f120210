import {
  closeSync,
  mkdtempSync,
  openSync,
  readSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  formatSubnetEnv,
  parseSubnetEnv,
  readSubnetEnv,
  SubnetEnvError,
  writeSubnetEnv,
  type SubnetEnv,
} from "./subnet-env.ts";

const dir = mkdtempSync(join(tmpdir(), "weft-subnetenv-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const P = "/run/flannel/subnet.env";

describe("subnet.env reading (as the flannel CNI plugin)", () => {
  it("parses flannel's sample file and stores the subnet masked", () => {
    // flannel-io/flannel dist/sample_subnet.env
    const env = parseSubnetEnv(
      "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n",
      P,
    );
    expect(env).toEqual({
      networks: ["10.1.0.0/16"],
      subnet: "10.1.74.0/24",
      ipv6Networks: [],
      mtu: 1472,
      ipMasq: false,
    });
  });

  it("parses dual-stack files, comma lists (masked, duplicates dropped) and CRLF line ends", () => {
    const text = [
      "FLANNEL_NETWORK=10.244.0.0/16,10.245.1.1/16,10.244.0.0/16",
      "FLANNEL_SUBNET=10.244.1.1/24",
      "FLANNEL_IPV6_NETWORK=2001:cafe:42::/56",
      "FLANNEL_IPV6_SUBNET=2001:cafe:42::1/64",
      "FLANNEL_MTU=1450",
      "FLANNEL_IPMASQ=true",
    ].join("\r\n");
    expect(parseSubnetEnv(text, P)).toEqual({
      networks: ["10.244.0.0/16", "10.245.0.0/16"],
      subnet: "10.244.1.0/24",
      ipv6Networks: ["2001:cafe:42::/56"],
      ipv6Subnet: "2001:cafe:42::/64",
      mtu: 1450,
      ipMasq: true,
    });
  });

  it("accepts an IPv6-only file and ignores unknown keys and junk lines", () => {
    const env = parseSubnetEnv(
      "# comment\nOTHER=1\nFLANNEL_IPV6_NETWORK=fc00::/48\n" +
        "FLANNEL_IPV6_SUBNET=fc00:0:0:3::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=TRUE\n",
      P,
    );
    expect(env.subnet).toBeUndefined();
    expect(env.ipv6Subnet).toBe("fc00:0:0:3::/64");
    expect(env.ipMasq).toBe(false); // only the exact string "true" is true
  });

  it("lists everything missing in the reference order", () => {
    expect(() => parseSubnetEnv("", P)).toThrow(
      `${P} is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, ` +
        "FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ",
    );
    expect(() => parseSubnetEnv("FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.2.1/24\n", P)).toThrow(
      `${P} is missing FLANNEL_MTU, FLANNEL_IPMASQ`,
    );
    expect(() => parseSubnetEnv("FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_MTU=1\nFLANNEL_IPMASQ=true", P)).toThrow(
      `${P} is missing FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET`,
    );
  });

  it("reports bad values with Go's parse error and the key", () => {
    expect(() => parseSubnetEnv("FLANNEL_SUBNET=10.1.2.300/24", P)).toThrow(
      /^invalid CIDR address: 10\.1\.2\.300\/24 \(FLANNEL_SUBNET in/,
    );
    expect(() => parseSubnetEnv("FLANNEL_MTU=big", P)).toThrow(/^strconv\.ParseUint: parsing "big": invalid syntax/);
    expect(() => parseSubnetEnv("FLANNEL_MTU=-1", P)).toThrow(SubnetEnvError);
  });

  it("says flanneld has not written the file when it is missing, naming the path", () => {
    const path = join(dir, "absent", "subnet.env");
    let err: unknown;
    try {
      readSubnetEnv(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SubnetEnvError);
    expect((err as SubnetEnvError).missingFile).toBe(true);
    expect((err as Error).message).toContain(`open ${path}: no such file or directory`);
    expect((err as Error).message).toContain("flanneld is not running on this node");
  });
});

describe("subnet.env that is no regular file", () => {
  it("is an error naming the path at once for a FIFO (no writer needed) or a directory", () => {
    const fifo = join(dir, "fifo.env");
    execFileSync("mkfifo", [fifo]);
    expect(() => readSubnetEnv(fifo)).toThrow(SubnetEnvError);
    expect(() => readSubnetEnv(fifo)).toThrow(`${fifo} is a FIFO, not a regular file`);
    expect(() => readSubnetEnv(dir)).toThrow(`${dir} is a directory, not a regular file`);
  });

  it("is an error when it is far larger than a subnet.env can be", () => {
    const big = join(dir, "big.env");
    writeFileSync(big, `FLANNEL_MTU=1450\n${"#".repeat(100 * 1024)}\n`);
    expect(() => readSubnetEnv(big)).toThrow(/holds .* bytes/);
  });
});

describe("subnet.env writing (as flanneld)", () => {
  const dual: SubnetEnv = {
    networks: ["10.244.0.0/16"],
    subnet: "10.244.1.0/24",
    ipv6Networks: ["2001:cafe:42::/56"],
    ipv6Subnet: "2001:cafe:42::/64",
    mtu: 1450,
    ipMasq: true,
  };

  it("writes the v4 pair, v6 pair, MTU and IPMASQ with the gateway address .1", () => {
    expect(formatSubnetEnv(dual)).toBe(
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=2001:cafe:42::/56\n" +
        "FLANNEL_IPV6_SUBNET=2001:cafe:42::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    expect(
      formatSubnetEnv({
        networks: ["10.1.0.0/16"],
        subnet: "10.1.74.0/24",
        ipv6Networks: [],
        mtu: 1472,
        ipMasq: false,
      }),
    ).toBe("FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n");
  });

  it("round-trips through the reader", () => {
    expect(parseSubnetEnv(formatSubnetEnv(dual), P)).toEqual(dual);
  });

  it("writes atomically with mode 0644 into a created 0755 directory, leaving no temp file", () => {
    const path = join(dir, "run", "flannel", "subnet.env");
    writeSubnetEnv(path, dual);
    writeSubnetEnv(path, { ...dual, mtu: 1400 });
    expect(readSubnetEnv(path).mtu).toBe(1400);
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, "run", "flannel")).mode & 0o777).toBe(0o755);
    expect(readdirSync(join(dir, "run", "flannel"))).toEqual(["subnet.env"]);
  });

  it("removes the temp files of earlier writers that were killed before renaming them", () => {
    const d = join(dir, "killed");
    const path = join(d, "subnet.env");
    writeSubnetEnv(path, dual);
    const gone = ".subnet.env.999999999.1700000000000.tmp";
    const stale = `.subnet.env.${process.pid}.${Date.now() - 120_000}.tmp`;
    const fresh = `.subnet.env.${process.pid}.${Date.now() - 1000}.tmp`;
    for (const n of [gone, stale, fresh, ".other.1.2.tmp"]) writeFileSync(join(d, n), "x");
    writeSubnetEnv(path, dual);
    expect(readdirSync(d).sort()).toEqual([".other.1.2.tmp", fresh, "subnet.env"].sort());
  });

  it("replaces a file a reader holds open without truncating what that reader sees", () => {
    const path = join(dir, "held.env");
    writeFileSync(path, formatSubnetEnv(dual));
    const fd = openSync(path, "r");
    writeSubnetEnv(path, { ...dual, ipMasq: false });
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
    expect(buf.subarray(0, n).toString()).toBe(formatSubnetEnv(dual));
    expect(readFileSync(path, "utf8")).toContain("FLANNEL_IPMASQ=false");
  });
});
