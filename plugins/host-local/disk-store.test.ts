import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { namedTempWriter } from "../../net/file-writer.ts";
import { DiskStore } from "./disk-store.ts";
import { InProcessLocker } from "./testing/in-process-locker.ts";
import { staleAllocations } from "./store.ts";

let dataDir: string;
let locker: InProcessLocker;
let store: DiskStore;
const file = (name: string) => readFileSync(join(dataDir, "mynet", name), "utf8");
const mode = (name: string) => statSync(join(dataDir, "mynet", name)).mode & 0o777;
const names = () => readdirSync(join(dataDir, "mynet")).sort();

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), "weft-hl-disk-"));
  locker = new InProcessLocker();
  store = new DiskStore({ dataDir, network: "mynet", locker });
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

describe("disk store: the reference on-disk format", () => {
  it("creates <dataDir>/<network> mode 0755 and the lock file on first use", async () => {
    expect(statSync(join(dataDir, "mynet")).mode & 0o777).toBe(0o755 & ~process.umask());
    await store.withLock(() => undefined);
    expect(names()).toEqual(["lock"]);
    expect(locker.taken).toEqual([join(dataDir, "mynet", "lock")]);
  });

  it("writes <ip> as '<trimmed id>\\r\\n<ifname>' with mode 0600 and no trailing newline", async () => {
    expect(await store.withLock(() => store.reserve("10.1.2.2", "   dummy\n ", "eth0"))).toBe(true);
    expect(file("10.1.2.2")).toBe("dummy\r\neth0");
    expect(mode("10.1.2.2")).toBe(0o600);
  });

  it("refuses an IP whose file exists (O_EXCL) and leaves the file untouched", async () => {
    await store.withLock(() => store.reserve("10.1.2.2", "a", "eth0"));
    expect(await store.withLock(() => store.reserve("10.1.2.2", "b", "eth0"))).toBe(false);
    expect(file("10.1.2.2")).toBe("a\r\neth0");
  });

  it("creates a reservation complete or not at all, exclusive against an O_EXCL writer's file", async () => {
    const created: string[] = [];
    const files = {
      create: (path: string, data: string, m: number) => {
        created.push(path);
        return namedTempWriter.create(path, data, m);
      },
      replace: namedTempWriter.replace,
    };
    const s = new DiskStore({ dataDir, network: "mynet", locker, files });
    // a file the reference made (O_EXCL) holds the address: ours is refused and leaves it as it is
    writeFileSync(join(dataDir, "mynet", "10.1.2.5"), "ref\r\neth0", { flag: "wx" });
    expect(await s.withLock(() => s.reserve("10.1.2.5", "ours", "eth0"))).toBe(false);
    expect(file("10.1.2.5")).toBe("ref\r\neth0");
    expect(await s.withLock(() => s.reserve("10.1.2.6", "ours", "eth0"))).toBe(true);
    expect(created).toEqual([join(dataDir, "mynet", "10.1.2.5"), join(dataDir, "mynet", "10.1.2.6")]);
    expect(names()).toEqual(["10.1.2.5", "10.1.2.6", "lock"]);
  });

  it("reclaims, under the lock, an empty or blank reservation a killed writer left, and logs it", async () => {
    const logged: string[] = [];
    const s = new DiskStore({ dataDir, network: "mynet", locker, log: (m) => logged.push(m) });
    await s.withLock(() => s.reserve("10.1.2.2", "live", "eth0"));
    writeFileSync(join(dataDir, "mynet", "10.1.2.3"), "");
    writeFileSync(join(dataDir, "mynet", "10.1.2.4"), " \n\0");
    expect(await s.withLock(() => s.list())).toEqual([{ ip: "10.1.2.2", containerID: "live", ifname: "eth0" }]);
    expect(names()).toEqual(["10.1.2.2", "lock"]);
    expect(logged).toEqual([
      expect.stringMatching(/^reclaimed 10\.1\.2\.3 of network mynet: it was empty/),
      expect.stringMatching(/^reclaimed 10\.1\.2\.4 of network mynet: it was empty/),
    ]);
  });

  it("removes the temp files of a writer killed mid-write when it reads the directory under the lock", async () => {
    writeFileSync(join(dataDir, "mynet", ".10.1.2.7.tmp-4242-0badc0de"), "x\r\neth0");
    writeFileSync(join(dataDir, "mynet", ".last_reserved_ip.0.tmp-4242-0badc0de"), "10.1.2.7");
    expect(await store.withLock(() => store.list())).toEqual([]);
    expect(names()).toEqual(["lock"]);
  });

  it("skips a FIFO named like an address without blocking, and never hands that address out", async () => {
    execFileSync("mkfifo", [join(dataDir, "mynet", "10.1.2.2")]);
    expect(await store.withLock(() => store.list())).toEqual([]);
    expect(await store.withLock(() => store.reserve("10.1.2.2", "c", "eth0"))).toBe(false);
    expect(names()).toEqual(["10.1.2.2", "lock"]);
  });

  it("names IPv6 files with colons, as Go prints the address", async () => {
    await store.withLock(() => store.reserve("2001:db8:1::2", "dummy", "eth0"));
    expect(file("2001:db8:1::2")).toBe("dummy\r\neth0");
  });

  it("replaces last_reserved_ip.<N> atomically: IP text, no newline, mode 0600, no temp file left", async () => {
    await store.withLock(() => store.setLastReserved("0", "10.1.2.2"));
    await store.withLock(() => store.setLastReserved("0", "10.1.2.3"));
    await store.withLock(() => store.setLastReserved("1", "2001:db8:1::2"));
    expect(file("last_reserved_ip.0")).toBe("10.1.2.3");
    expect(file("last_reserved_ip.1")).toBe("2001:db8:1::2");
    expect(mode("last_reserved_ip.0")).toBe(0o600);
    expect(names()).toEqual(["last_reserved_ip.0", "last_reserved_ip.1", "lock"]);
    expect(await store.withLock(() => store.lastReserved("0"))).toBe("10.1.2.3");
    expect(await store.withLock(() => store.lastReserved("7"))).toBeUndefined();
  });

  it("lists only IP-named files and reads legacy 'id only' records", async () => {
    await store.withLock(() => {
      store.reserve("10.1.2.2", "a", "eth0");
      store.setLastReserved("0", "10.1.2.2");
    });
    writeFileSync(join(dataDir, "mynet", "10.1.2.9"), "legacy-id\n");
    writeFileSync(join(dataDir, "mynet", "notes.txt"), "a\r\neth0");
    const all = await store.withLock(() => store.list());
    expect(all.sort((x, y) => x.ip.localeCompare(y.ip))).toEqual([
      { ip: "10.1.2.2", containerID: "a", ifname: "eth0" },
      { ip: "10.1.2.9", containerID: "legacy-id", ifname: undefined },
    ]);
  });
});

describe("release by container (checklist 47, 49)", () => {
  it("releases only the interface asked for, keeping the container's other interfaces", async () => {
    await store.withLock(() => {
      store.reserve("10.1.2.2", "c1", "eth0");
      store.reserve("10.1.2.3", "c1", "eth1");
    });
    expect(await store.withLock(() => store.releaseByID("c1", "eth0"))).toEqual(["10.1.2.2"]);
    expect(names()).toEqual(["10.1.2.3", "lock"]);
  });

  it("falls back to legacy 'id only' files when no current record matches", async () => {
    writeFileSync(join(dataDir, "mynet", "10.1.2.5"), "dummy");
    expect(await store.withLock(() => store.findByID("dummy", "eth0"))).toEqual(["10.1.2.5"]);
    expect(await store.withLock(() => store.releaseByID("dummy", "eth0"))).toEqual(["10.1.2.5"]);
    expect(names()).toEqual(["lock"]);
  });

  it("releases nothing and succeeds for an unknown container, keeping last_reserved_ip", async () => {
    await store.withLock(() => {
      store.reserve("10.1.2.2", "c1", "eth0");
      store.setLastReserved("0", "10.1.2.2");
    });
    expect(await store.withLock(() => store.releaseByID("nobody", "eth0"))).toEqual([]);
    await store.withLock(() => store.releaseByID("c1", "eth0"));
    expect(names()).toEqual(["last_reserved_ip.0", "lock"]);
  });

  it("does not mistake a last_reserved_ip file for a legacy record of a container named like an IP", async () => {
    await store.withLock(() => store.setLastReserved("0", "10.1.2.2"));
    expect(await store.withLock(() => store.releaseByID("10.1.2.2", "eth0"))).toEqual([]);
    expect(names()).toEqual(["last_reserved_ip.0", "lock"]);
  });
});

describe("GC selection", () => {
  const all = [
    { ip: "10.0.0.1", containerID: "keep", ifname: "eth0" },
    { ip: "10.0.0.2", containerID: "keep", ifname: "eth1" },
    { ip: "10.0.0.3", containerID: "gone", ifname: "eth0" },
    { ip: "10.0.0.9", containerID: "legacy", ifname: undefined },
    { ip: "10.0.0.10", containerID: "stale-legacy", ifname: undefined },
  ];
  it(
    "keeps listed (container, ifname) pairs and legacy " + "records of a listed container; everything else is stale",
    () => {
      const stale = staleAllocations(all, [
        { containerID: "keep", ifname: "eth0" },
        { containerID: "legacy", ifname: "eth0" },
      ]);
      expect(stale.map((a) => a.ip)).toEqual(["10.0.0.2", "10.0.0.3", "10.0.0.10"]);
    },
  );
  it("treats an empty valid list as 'release everything'", () => {
    expect(staleAllocations(all, [])).toHaveLength(all.length);
  });
});
