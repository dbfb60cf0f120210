import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  conflictingRoutes,
  dockerOptsFile,
  DockerOptsError,
  formatRouteLine,
  ownSubnet,
  parseArgs,
  parseEnvFile,
} from "./docker-opts.ts";
import { main } from "./main.ts";

// flannel's dist/sample_subnet.env, the input of its own mk-docker-opts tests
const SAMPLE = "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n";
const sample = parseEnvFile(SAMPLE);
const file = (flags: string[], vars: Record<string, string> = sample) => dockerOptsFile(vars, parseArgs(flags));

describe("mk-docker-opts output, as flannel documents it for sample_subnet.env", () => {
  // the expected files are the ones flannel's dist tests (mk_docker_opts_test.go) assert for the same input
  it("no flags: the individual options, then the combined line with its leading space", () => {
    expect(file([])).toBe(
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\n' +
        'DOCKER_OPT_MTU="--mtu=1472"\nDOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n',
    );
  });

  it("-i: individual options only", () => {
    expect(file(["-i"])).toBe(
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1472"\n',
    );
  });

  it("-c: the combined line only", () => {
    expect(file(["-c"])).toBe('DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n');
  });

  it("-k CUSTOM_KEY: the combined line under that name", () => {
    expect(file(["-k", "CUSTOM_KEY"])).toBe(
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\n' +
        'DOCKER_OPT_MTU="--mtu=1472"\nCUSTOM_KEY=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n',
    );
  });

  it("-m: no --ip-masq", () => {
    expect(file(["-m"])).toBe(
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_MTU="--mtu=1472"\n' +
        'DOCKER_OPTS=" --bip=10.1.74.1/24 --mtu=1472"\n',
    );
  });
});

describe("mk-docker-opts variables", () => {
  it("FLANNEL_IPMASQ=true (flanneld masquerades) gives --ip-masq=false", () => {
    expect(file(["-c"], { ...sample, FLANNEL_IPMASQ: "true" })).toBe(
      'DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=false --mtu=1472"\n',
    );
  });

  it("rejects another FLANNEL_IPMASQ value, unless -m skips the option", () => {
    expect(() => file([], { ...sample, FLANNEL_IPMASQ: "yes" })).toThrow(
      new DockerOptsError("Invalid value of FLANNEL_IPMASQ: yes (flanneld writes true or false)"),
    );
    expect(file(["-c", "-m"], { ...sample, FLANNEL_IPMASQ: "yes" })).toBe(
      'DOCKER_OPTS=" --bip=10.1.74.1/24 --mtu=1472"\n',
    );
  });

  it("starts the combined value with the variable's previous value and a space", () => {
    expect(file(["-c"], { ...sample, DOCKER_OPTS: "--debug" })).toBe(
      'DOCKER_OPTS="--debug  --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n',
    );
    expect(file(["-c", "-k", "EXTRA"], { ...sample, EXTRA: "--log-level=warn" })).toBe(
      'EXTRA="--log-level=warn  --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n',
    );
  });

  it("takes any DOCKER_OPT_* variable from the environment too, in name order", () => {
    expect(file([], { ...sample, DOCKER_OPT_DNS: "--dns=192.0.2.53", DOCKER_OPT_ZZ: "--iptables=false" })).toBe(
      [
        'DOCKER_OPT_BIP="--bip=10.1.74.1/24"',
        'DOCKER_OPT_DNS="--dns=192.0.2.53"',
        'DOCKER_OPT_IPMASQ="--ip-masq=true"',
        'DOCKER_OPT_MTU="--mtu=1472"',
        'DOCKER_OPT_ZZ="--iptables=false"',
        'DOCKER_OPTS=" --bip=10.1.74.1/24 --dns=192.0.2.53 --ip-masq=true --mtu=1472 --iptables=false"',
        "",
      ].join("\n"),
    );
  });

  it("without a subnet.env writes an empty combined line", () => {
    expect(file([], {})).toBe('DOCKER_OPTS=""\n');
    expect(file(["-i"], {})).toBe("");
  });

  it("reads subnet.env as KEY=VALUE lines, tolerating export, quotes, CRLF and comments", () => {
    expect(
      parseEnvFile(
        '# flannel\nexport FLANNEL_MTU="1450"\r\n' +
          "FLANNEL_SUBNET=10.244.3.1/24\nnot an assignment\nFLANNEL_IPMASQ='true'\n",
      ),
    ).toEqual({
      FLANNEL_MTU: "1450",
      FLANNEL_SUBNET: "10.244.3.1/24",
      FLANNEL_IPMASQ: "true",
    });
  });
});

describe("mk-docker-opts flags", () => {
  it("defaults to /run/flannel/subnet.env, /run/docker_opts.env, both outputs, DOCKER_OPTS, --ip-masq", () => {
    expect(parseArgs([])).toEqual({
      flannelEnv: "/run/flannel/subnet.env",
      dockerEnv: "/run/docker_opts.env",
      individual: true,
      combined: true,
      combinedKey: "DOCKER_OPTS",
      ipMasq: true,
    });
  });

  it(
    "takes getopts forms: grouped letters, attached or separate values, " + "-- and the first operand end the options",
    () => {
      expect(parseArgs(["-icm", "-f/tmp/s.env", "-d", "/tmp/d.env", "-kK"])).toEqual({
        flannelEnv: "/tmp/s.env",
        dockerEnv: "/tmp/d.env",
        individual: true,
        combined: true,
        combinedKey: "K",
        ipMasq: false,
      });
      expect(parseArgs(["-c", "--", "-i"])).toMatchObject({ individual: false, combined: true });
      expect(parseArgs(["-c", "operand", "-i"])).toMatchObject({ individual: false, combined: true });
      expect(parseArgs(["-cf", "/x"])).toMatchObject({ combined: true, flannelEnv: "/x" });
    },
  );

  it.each([
    [["-h"], ""],
    [["-?"], ""],
    [["-x"], "unknown option -x"],
    [["-f"], "option -f needs a value"],
  ])("%j: usage and exit 1", (argv, msg) => {
    let err: unknown;
    try {
      parseArgs(argv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DockerOptsError);
    expect((err as DockerOptsError).showUsage).toBe(true);
    expect((err as Error).message).toBe(msg);
  });

  it("refuses a -k that is not a variable name", () => {
    expect(() => parseArgs(["-k", "DOCKER-OPTS"])).toThrow(/-k "DOCKER-OPTS" is not a shell variable name/);
  });
});

describe("mk-docker-opts route check", () => {
  it("looks for the lease (FLANNEL_SUBNET's last octet minus one)", () => {
    expect(ownSubnet("10.1.74.1/24")).toBe("10.1.74.0/24");
    expect(ownSubnet("10.1.74.129/25")).toBe("10.1.74.128/25");
    expect(ownSubnet("")).toBeUndefined();
    expect(ownSubnet(undefined)).toBeUndefined();
  });

  it("flags the lines routing the subnet via a gateway, as `ip route show | grep SUBNET | grep via`", () => {
    const lines = [
      "default via 192.0.2.1 dev eth0",
      "10.1.74.0/24 dev cni0 proto kernel scope link src 10.1.74.1",
      "10.1.74.0/24 via 192.0.2.9 dev eth0 metric 10",
      "10.1.75.0/24 via 10.1.75.0 dev flannel.1 onlink",
    ];
    expect(conflictingRoutes(lines, "10.1.74.0/24")).toEqual(["10.1.74.0/24 via 192.0.2.9 dev eth0 metric 10"]);
  });

  it("formats routes like iproute2", () => {
    expect(
      formatRouteLine({
        dst: "0.0.0.0/0",
        type: "unicast",
        gateway: "192.0.2.1",
        dev: "eth0",
        protocol: 3,
        scope: 0,
        flags: 0,
        multipath: false,
      }),
    ).toBe("default via 192.0.2.1 dev eth0 ");
    expect(
      formatRouteLine({
        dst: "10.1.74.0/24",
        type: "unicast",
        dev: "cni0",
        protocol: 2,
        scope: 253,
        src: "10.1.74.1",
        flags: 16,
        multipath: false,
      }),
    ).toBe("10.1.74.0/24 dev cni0 proto kernel scope link src 10.1.74.1 linkdown ");
    expect(
      formatRouteLine({
        dst: "10.1.75.0/24",
        type: "unicast",
        gateway: "10.1.75.0",
        dev: "flannel.1",
        protocol: 4,
        scope: 0,
        flags: 4 | 16,
        multipath: false,
        metric: 5,
      }),
    ).toBe("10.1.75.0/24 via 10.1.75.0 dev flannel.1 proto static metric 5 onlink linkdown ");
    expect(
      formatRouteLine({ dst: "192.0.2.7/32", type: "blackhole", protocol: 4, scope: 0, flags: 0, multipath: false }),
    ).toBe("blackhole 192.0.2.7 proto static ");
  });
});

describe("mk-docker-opts role", () => {
  const dir = mkdtempSync(join(tmpdir(), "weft-docker-opts-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const io = (routes: string[] = [], env: Record<string, string> = {}) => {
    const err: string[] = [];
    return { err, io: { env, stderr: (s: string) => void err.push(s), routeLines: async () => routes } };
  };

  it("writes the options file and exits 0", async () => {
    const src = join(dir, "subnet.env");
    const dst = join(dir, "opts.env");
    writeFileSync(src, SAMPLE);
    const t = io(["10.1.74.0/24 dev cni0 proto kernel scope link src 10.1.74.1"]);
    expect(await main(["-f", src, "-d", dst, "-c"], t.io)).toBe(0);
    expect(readFileSync(dst, "utf8")).toBe('DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n');
    expect(t.err).toEqual([]);
  });

  it("writes the file, then exits 1 naming a route via a gateway to the node's own subnet", async () => {
    const src = join(dir, "subnet2.env");
    const dst = join(dir, "opts2.env");
    writeFileSync(src, SAMPLE);
    const t = io(["10.1.74.0/24 via 192.0.2.9 dev eth0"]);
    expect(await main(["-f", src, "-d", dst], t.io)).toBe(1);
    expect(existsSync(dst)).toBe(true);
    expect(t.err.join("")).toBe(
      "Your routing table already contains the subnet: 10.1.74.0/24 via 192.0.2.9 dev eth0\n",
    );
  });

  it("exits 1 without writing on a bad FLANNEL_IPMASQ, and with the usage on a bad flag", async () => {
    const src = join(dir, "subnet3.env");
    const dst = join(dir, "opts3.env");
    writeFileSync(src, SAMPLE.replace("FLANNEL_IPMASQ=false", "FLANNEL_IPMASQ=maybe"));
    const t = io();
    expect(await main(["-f", src, "-d", dst], t.io)).toBe(1);
    expect(existsSync(dst)).toBe(false);
    expect(t.err.join("")).toContain("Invalid value of FLANNEL_IPMASQ: maybe");
    const u = io();
    expect(await main(["-z"], u.io)).toBe(1);
    expect(u.err.join("")).toMatch(
      new RegExp(
        String.raw`^mk-docker-opts: unknown option -z\n` +
          String.raw`Usage: mk-docker-opts \[-f SUBNET-ENV\] \[-d DOCKER-ENV\] \[-i\] \[-c\] \[-m\] \[-k KEY\]`,
      ),
    );
  });

  it("without subnet.env says so and writes what the environment gives", async () => {
    const dst = join(dir, "opts4.env");
    const t = io([], { FLANNEL_SUBNET: "10.9.1.1/24", FLANNEL_MTU: "1400" });
    expect(await main(["-f", join(dir, "missing.env"), "-d", dst, "-c"], t.io)).toBe(0);
    expect(readFileSync(dst, "utf8")).toBe('DOCKER_OPTS=" --bip=10.9.1.1/24 --mtu=1400"\n');
    expect(t.err.join("")).toContain("missing.env does not exist");
  });
});
