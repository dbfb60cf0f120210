/**
 * Seeded random CNI results as raw JSON text, for convert-differential.test.ts. Text, not values:
 * the generator controls key spelling (Go matches keys case-insensitively), escapes, nulls and
 * number lexemes, and both Go and our decoder read the same bytes.
 *
 * Besides the text it records the fields the Debian Go libcni (1.1.2) predates but newer libcni
 * keeps: route mtu/advmss/priority/table/scope (every family) and interface mtu/socketPath/pciID
 * (1.x), so the test can check them against the newer library's rules on its own.
 */

import { Rng } from "../../netns-fixtures/fuzz/fuzz.ts";

/** The HEAD-only fields of one route or interface as given (null and absent are both left out). */
export type Extras = Readonly<Record<string, number | string>>;

export interface Generated {
  /** The result JSON text. */
  readonly raw: string;
  /** Route extras in output order (0.1.0/0.2.0: ip4 routes then ip6 routes). */
  readonly routeExtras: readonly Extras[];
  /** Interface extras, one per interface (they count only where the result decodes as 1.x). */
  readonly ifaceExtras: readonly Extras[];
  /** Whether any HEAD-only key is present in the text at all (even as 0, "" or null). */
  readonly headOnly: boolean;
}

export type Family = "020" | "040" | "100";

/** Options for one result. */
export interface GenOptions {
  /** Family of the result's shape. */
  readonly family: Family;
  /** The cniVersion written into it; undefined leaves the key out. */
  readonly cniVersion: string | undefined;
  /** Probability of a deliberately broken field (bad address, wrong type, missing key, null entry). */
  readonly breakRate: number;
}

const q = (s: string): string => JSON.stringify(s);

export class ResultGen {
  private headOnly = false;
  private routeExtras: Extras[] = [];
  private ifaceExtras: Extras[] = [];
  private breaks = 0;
  constructor(
    private readonly rng: Rng,
    private readonly opts: GenOptions,
  ) {}

  /** A key as written: mostly as the spec spells it, sometimes in another case. */
  private key(k: string): string {
    const r = this.rng;
    if (!r.chance(0.04)) return q(k);
    // Go folds the long s (U+017F) to s and the Kelvin sign (U+212A) to k as well.
    if (r.chance(0.2)) return q(k.replaceAll("s", "\u017f").replaceAll("k", "\u212a"));
    return q(r.chance(0.5) ? k.toUpperCase() : k[0]?.toUpperCase() + k.slice(1));
  }

  /** One deliberately broken field per result at most; true when this call should break something. */
  private breakNow(): boolean {
    if (this.breaks > 0 || !this.rng.chance(this.opts.breakRate)) return false;
    this.breaks++;
    return true;
  }

  private obj(entries: ReadonlyArray<readonly [string, string | undefined]>): string {
    const parts: string[] = [];
    for (const [k, v] of entries) if (v !== undefined) parts.push(`${this.key(k)}:${v}`);
    if (this.rng.chance(0.03)) parts.push(`${q("x-unknown")}:${q("kept out")}`);
    return `{${parts.join(",")}}`;
  }

  private list(n: number, item: (i: number) => string): string {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.breakNow() && this.rng.chance(0.3) ? "null" : item(i));
    return `[${out.join(",")}]`;
  }

  private str(pool: readonly string[]): string {
    const r = this.rng;
    if (r.chance(0.05))
      return q(
        r.pick([
          "a<b>&c",
          "tab\there",
          "nl\nx",
          "bell\u0007",
          "bs\b ff\f",
          "ls\u2028ps\u2029",
          "ünï😀",
          'quote"back\\',
        ]),
      );
    if (r.chance(0.01)) return `"lone \\ud800 surrogate"`;
    return q(r.pick(pool));
  }

  private v4(): string {
    const r = this.rng;
    return [r.int(0, 255), r.int(0, 255), r.int(0, 255), r.int(0, 255)].join(".");
  }

  private v6(): string {
    const r = this.rng;
    const groups = Array.from({ length: 8 }, () =>
      r.chance(0.45) ? 0 : r.chance(0.5) ? r.int(1, 0xff) : r.int(0, 0xffff),
    );
    const style = r.int(0, 5);
    if (style === 0) return `::ffff:${this.v4()}`;
    if (style === 1)
      return `${groups
        .slice(0, 6)
        .map((g) => g.toString(16))
        .join(":")}:${this.v4()}`;
    const text = groups.map((g) => (r.chance(0.1) ? g.toString(16).padStart(4, "0") : g.toString(16)));
    const upper = r.chance(0.1);
    // Compress one random run of zero groups (any length, not necessarily the longest).
    let out = text.join(":");
    const zeroRuns: [number, number][] = [];
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && groups[j] === 0) j++;
      if (j > i) zeroRuns.push([i, j]);
      i = j > i ? j : i + 1;
    }
    if (zeroRuns.length > 0 && r.chance(0.8)) {
      const [a, b] = r.pick(zeroRuns);
      out = `${text.slice(0, a).join(":")}::${text.slice(b).join(":")}`;
    }
    return upper ? out.toUpperCase() : out;
  }

  private badAddress(cidr: boolean): string {
    const r = this.rng;
    const bad = cidr
      ? [
          "10.1.2.300/24",
          "10.1.2.3",
          "10.01.2.3/24",
          "10.1.2.3/33",
          "2001:db8::1/129",
          "fe80::1%eth0/64",
          "1:2:3:4:5:6:7:8::/64",
          "",
          "10.1.2.3/",
          "10.1.2.3/+8",
          " 10.1.2.3/24",
        ]
      : ["10.1.2.300", "10.01.2.3", "fe80::1%eth0", "1::2::3", "10.1.2.3/24", "gateway", "::ffff:1.2.3"];
    return q(r.pick(bad));
  }

  private ip(family: 4 | 6 | undefined): string {
    if (this.breakNow()) return this.badAddress(false);
    const f = family ?? (this.rng.chance(0.55) ? 4 : 6);
    return q(f === 4 ? this.v4() : this.v6());
  }

  private cidr(family: 4 | 6 | undefined): string {
    const r = this.rng;
    if (this.breakNow()) return this.badAddress(true);
    const f = family ?? (r.chance(0.55) ? 4 : 6);
    if (f === 4) return q(`${this.v4()}/${r.pick([0, 8, 16, 24, 32, r.int(0, 32)])}`);
    const addr = this.v6();
    const prefix = r.chance(0.05)
      ? r.pick(["0064", "0000000024", "00"])
      : String(r.pick([0, 48, 64, 96, 104, 120, 128, r.int(0, 128)]));
    return q(`${addr}/${prefix}`);
  }

  /** An integer field value as JSON text; sometimes an edge or a wrong type when breaking. */
  private int(common: readonly number[]): string {
    const r = this.rng;
    if (this.breakNow())
      return r.pick(["1.5", '"3"', "true", "1e400", "-1.25", "18446744073709551616", "9007199254740993", "[]"]);
    if (r.chance(0.05)) return String(r.pick([-1, 2147483647, 2147483648, -2147483649, 4294967296, 9007199254740991]));
    return String(r.pick(common));
  }

  private route(family: 4 | 6 | undefined): string {
    const r = this.rng;
    const extras: Record<string, number | string> = {};
    const entries: [string, string | undefined][] = [];
    if (!(this.breakNow() && r.chance(0.3))) entries.push(["dst", this.cidr(family)]);
    if (r.chance(0.6)) entries.push(["gw", r.chance(0.1) ? '""' : this.ip(family)]);
    if (r.chance(this.opts.family === "100" ? 0.5 : 0.15)) {
      this.headOnly = true;
      for (const k of ["mtu", "advmss", "priority", "table", "scope"]) {
        if (!r.chance(0.4)) continue;
        if (r.chance(0.1)) {
          entries.push([k, "null"]);
          continue;
        }
        const v = r.pick(
          k === "table" ? [0, 254, 100, 1] : k === "scope" ? [0, 253, 254, 200] : [0, 0, 1400, 1500, 9000, 65535],
        );
        entries.push([k, String(v)]);
        extras[k] = v;
      }
    }
    this.routeExtras.push(extras);
    return this.obj(r.chance(0.2) ? entries.reverse() : entries);
  }

  private routes(family: 4 | 6 | undefined): string | undefined {
    const r = this.rng;
    if (r.chance(0.3)) return r.chance(0.2) ? r.pick(["[]", "null"]) : undefined;
    return this.list(r.int(1, 4), () => this.route(family ?? (r.chance(0.2) ? undefined : r.chance(0.5) ? 4 : 6)));
  }

  private dns(): string | undefined {
    const r = this.rng;
    if (r.chance(0.35))
      return r.chance(0.3) ? r.pick(["{}", "null", '{"nameservers":[],"domain":"","search":null}']) : undefined;
    const strs = (pool: readonly string[]): string | undefined =>
      r.chance(0.5)
        ? `[${Array.from({ length: r.int(0, 3) }, () => (r.chance(0.03) ? "null" : this.str(pool))).join(",")}]`
        : undefined;
    return this.obj([
      ["nameservers", strs(["10.96.0.10", "8.8.8.8", "2001:4860:4860::8888", "not-an-ip"])],
      ["domain", r.chance(0.5) ? this.str(["cluster.local", "example.org", ""]) : undefined],
      ["search", strs(["svc.cluster.local", "cluster.local", "a.b"])],
      ["options", strs(["ndots:5", "rotate", "timeout:1"])],
    ]);
  }

  private ipConfig020(family: 4 | 6): string {
    const r = this.rng;
    return this.obj([
      ["ip", this.breakNow() && r.chance(0.3) ? undefined : this.cidr(r.chance(0.9) ? family : undefined)],
      ["gateway", r.chance(0.6) ? this.ip(family) : undefined],
      ["routes", this.routes(r.chance(0.8) ? family : undefined)],
    ]);
  }

  private interfaces(): string | undefined {
    const r = this.rng;
    if (r.chance(0.25)) return r.chance(0.2) ? "[]" : undefined;
    const is100 = this.opts.family === "100";
    return this.list(r.int(1, 3), () => {
      const extras: Record<string, number | string> = {};
      const entries: [string, string | undefined][] = [
        ["name", r.chance(0.9) ? this.str(["eth0", "cni0", "veth1234abcd", "flannel.1", ""]) : undefined],
        ["mac", r.chance(0.7) ? this.str(["0a:58:0a:f4:01:05", "00:11:22:33:44:55", "", "not-a-mac"]) : undefined],
        ["sandbox", r.chance(0.5) ? this.str(["/var/run/netns/pod", "/proc/3553/ns/net", ""]) : undefined],
      ];
      if (r.chance(is100 ? 0.5 : 0.1)) {
        this.headOnly = true;
        const mtu = r.pick([0, 1450, 1500, 9000]);
        const socketPath = r.pick(["", "/run/vhost/sock0"]);
        const pciID = r.pick(["", "0000:00:1f.6"]);
        if (r.chance(0.6)) entries.push(["mtu", String(mtu)]);
        if (r.chance(0.5)) entries.push(["socketPath", q(socketPath)]);
        if (r.chance(0.5)) entries.push(["pciID", q(pciID)]);
        for (const [k, v] of entries)
          if (v !== undefined && (k === "mtu" || k === "socketPath" || k === "pciID"))
            extras[k] = JSON.parse(v) as number | string;
      }
      this.ifaceExtras.push(extras);
      return this.obj(r.chance(0.2) ? entries.reverse() : entries);
    });
  }

  private ipsList(): string | undefined {
    const r = this.rng;
    if (r.chance(0.15)) return r.chance(0.3) ? "[]" : undefined;
    return this.list(r.int(1, 4), () => {
      const family = r.chance(0.55) ? 4 : 6;
      const version =
        this.opts.family === "040" || r.chance(0.05)
          ? r.chance(0.92)
            ? q(String(family))
            : r.pick(['"5"', '""', `"${10 - family}"`])
          : undefined;
      return this.obj([
        ["version", r.chance(0.95) ? version : undefined],
        ["interface", r.chance(0.6) ? this.int([0, 0, 1, 2, 3]) : r.chance(0.1) ? "null" : undefined],
        ["address", this.breakNow() && r.chance(0.3) ? undefined : this.cidr(family)],
        ["gateway", r.chance(0.5) ? (r.chance(0.1) ? '""' : this.ip(family)) : undefined],
      ]);
    });
  }

  generate(): Generated {
    const r = this.rng;
    const v = this.opts.cniVersion === undefined ? undefined : q(this.opts.cniVersion);
    let raw: string;
    if (this.opts.family === "020") {
      raw = this.obj([
        ["cniVersion", v],
        ["ip4", r.chance(0.75) ? this.ipConfig020(4) : undefined],
        ["ip6", r.chance(0.5) ? this.ipConfig020(6) : undefined],
        ["dns", this.dns()],
      ]);
    } else {
      raw = this.obj([
        ["cniVersion", v],
        ["interfaces", this.interfaces()],
        ["ips", this.ipsList()],
        ["routes", this.routes(undefined)],
        ["dns", this.dns()],
      ]);
    }
    return { raw, routeExtras: this.routeExtras, ifaceExtras: this.ifaceExtras, headOnly: this.headOnly };
  }
}
