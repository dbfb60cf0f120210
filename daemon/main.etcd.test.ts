// flanneld end to end as a process (`bun bin/weft.ts flanneld`) against a real etcd, with the
// control-plane-only data plane (WEFT_DATAPLANE=none): nothing is programmed, no root needed.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdClient } from "./etcd/client.ts";
import { freePort, haveEtcd, startEtcd, type EtcdCluster } from "../netns-fixtures/etcd/etcd.ts";

const ROOT = resolve(import.meta.dirname, "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const dir = mkdtempSync(join(tmpdir(), "weft-flanneld-"));

interface Proc {
  p: ChildProcess;
  out: string;
  err: string;
  exit: Promise<number>;
}

function flanneld(args: string[], env: Record<string, string> = {}): Proc {
  const p = spawn(BUN, [join(ROOT, "bin", "weft.ts"), "flanneld", ...args], {
    env: { ...process.env, WEFT_DATAPLANE: "none", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const proc: Proc = { p, out: "", err: "", exit: new Promise((r) => p.on("exit", (code) => r(code ?? -1))) };
  p.stdout?.on("data", (d: Buffer) => (proc.out += d.toString()));
  p.stderr?.on("data", (d: Buffer) => (proc.err += d.toString()));
  return proc;
}

async function until(pred: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("flanneld process", () => {
  it("prints its version, its help, and exits 2 on a bad flag", async () => {
    const v = flanneld(["--version"]);
    expect(await v.exit).toBe(0);
    expect(v.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const h = flanneld(["-help"]);
    expect(await h.exit).toBe(0);
    expect(h.out).toContain("--etcd-endpoints");
    const bad = flanneld(["--subnet-lease-renew-margin=5000"]);
    expect(await bad.exit).toBe(2);
    expect(bad.err).toContain("between 1 and 1439");
  }, 30_000);
});

if (!haveEtcd)
  console.warn("skipping flanneld-with-etcd tests: /usr/bin/etcd is not installed (apt-get install etcd-server)");

describe.skipIf(!haveEtcd)("flanneld process with etcd", () => {
  let cluster: EtcdCluster;
  let admin: EtcdClient;
  beforeAll(async () => {
    cluster = await startEtcd(1);
    admin = new EtcdClient({ endpoints: cluster.endpoints });
  }, 30_000);
  afterAll(async () => {
    admin?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("leases, writes subnet.env, turns ready, logs peers, and on SIGTERM exits 0 leaving the lease", async () => {
    const prefix = "/e2e1/network";
    const subnetFile = join(dir, "run1", "subnet.env");
    const port = await freePort();
    const f = flanneld([
      `--etcd-endpoints=${cluster.endpoints.join(",")}`,
      `--etcd-prefix=${prefix}`,
      `--subnet-file=${subnetFile}`,
      "--public-ip=192.0.2.77",
      "--healthz-ip=127.0.0.1",
      `--healthz-port=${port}`,
      "--ip-masq",
    ]);
    await until(() => f.err.includes("waiting for the network config"), "config wait");
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
    await admin.put(`${prefix}/config`, '{"Network":"10.250.0.0/16","Backend":{"Type":"vxlan","MTU":1400}}');
    await until(() => existsSync(subnetFile), "subnet.env");
    const env = readFileSync(subnetFile, "utf8");
    expect(env).toMatch(
      new RegExp(
        String.raw`^FLANNEL_NETWORK=10\.250\.0\.0\/16\nFLANNEL_SUBNET=10\.250\.\d+\.1\/24\n` +
          String.raw`FLANNEL_MTU=1350\nFLANNEL_IPMASQ=true\n$`,
      ),
    );
    expect(await (await fetch(`http://127.0.0.1:${port}/readyz`)).text()).toBe("flanneld is ready");
    const { kvs } = await admin.list(`${prefix}/subnets/`);
    expect(kvs).toHaveLength(1);
    expect(JSON.parse(kvs[0]?.value ?? "{}")).toMatchObject({
      PublicIP: "192.0.2.77",
      BackendType: "vxlan",
      BackendData: { VNI: 1 },
    });
    await admin.put(
      `${prefix}/subnets/10.250.200.0-24`,
      '{"PublicIP":"192.0.2.78","PublicIPv6":null,"BackendType":"vxlan",' +
        '"BackendData":{"VNI":1,"VtepMAC":"0e:00:00:00:00:78"}}',
    );
    await until(() => f.err.includes("peer added") && f.err.includes("192.0.2.78"), "peer event");
    f.p.kill("SIGTERM");
    expect(await f.exit).toBe(0);
    expect(f.err).toContain("Exiting cleanly");
    expect((await admin.list(`${prefix}/subnets/`)).kvs).toHaveLength(2);
    for (const line of f.err.trim().split("\n")) expect(line).toMatch(/^time=\S+ level=(debug|info|warn|error) msg=/);
    // Restart: same subnet by public IP.
    const g = flanneld([
      `--etcd-endpoints=${cluster.endpoints.join(",")}`,
      `--etcd-prefix=${prefix}`,
      `--subnet-file=${subnetFile}`,
      "--public-ip=192.0.2.77",
    ]);
    await until(() => g.err.includes("flanneld is ready"), "second start");
    expect(readFileSync(subnetFile, "utf8").split("\n")[1]).toBe(env.split("\n")[1]);
    g.p.kill("SIGTERM");
    expect(await g.exit).toBe(0);
  }, 60_000);

  it("exits 1 saying the lease was removed when its etcd key is deleted", async () => {
    const prefix = "/e2e2/network";
    await admin.put(`${prefix}/config`, '{"Network":"10.251.0.0/16","Backend":{"Type":"host-gw"}}');
    const f = flanneld([
      `--etcd-endpoints=${cluster.endpoints.join(",")}`,
      `--etcd-prefix=${prefix}`,
      `--subnet-file=${join(dir, "run2", "subnet.env")}`,
      "--public-ip=192.0.2.79",
    ]);
    await until(() => f.err.includes("flanneld is ready"), "ready");
    await admin.delete(`${prefix}/subnets/`, { prefix: true });
    expect(await f.exit).toBe(1);
    expect(f.err).toMatch(/keeping the lease failed: lease \S+ was removed from etcd/);
  }, 60_000);

  it("tells systemd READY=1 through $NOTIFY_SOCKET once subnet.env is written", async () => {
    // Node has no unix datagram sockets: python3 plays systemd's end and prints what it receives.
    const sock = join(dir, "notify.sock");
    const listener = spawn(
      "python3",
      [
        "-c",
        `import socket,sys
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); print("bound", flush=True)
print(s.recv(4096).decode(), flush=True)`,
        sock,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let got = "";
    listener.stdout?.on("data", (d: Buffer) => (got += d.toString()));
    await until(() => got.includes("bound"), "notify socket");
    const prefix = "/e2e3/network";
    await admin.put(`${prefix}/config`, '{"Network":"10.252.0.0/16","Backend":{"Type":"vxlan"}}');
    const f = flanneld(
      [
        `--etcd-endpoints=${cluster.endpoints.join(",")}`,
        `--etcd-prefix=${prefix}`,
        `--subnet-file=${join(dir, "run3", "subnet.env")}`,
        "--public-ip=192.0.2.80",
      ],
      { NOTIFY_SOCKET: sock },
    );
    await until(() => got.includes("READY=1"), "READY=1", 20_000);
    expect(got).toMatch(/READY=1\nSTATUS=lease 10\.252\.\d+\.0\/24/);
    f.p.kill("SIGTERM");
    expect(await f.exit).toBe(0);
    listener.kill();
  }, 60_000);
});
