import { describe, expect, it } from "vitest";
import { SPEC_VERSIONS } from "../version.ts";
import { formatResult } from "./format.ts";
import { createResult, decodeVersionInfo, parsePrevResult, parseResult } from "./parse.ts";
import { familyOf } from "./result.ts";
import { caughtCniError as caught } from "../testing/caught.ts";

const IPS_040 = [{ version: "4", address: "10.1.2.3/24" }];

describe("parseResult", () => {
  it.each(SPEC_VERSIONS)("[%s] decodes a result of its own version and keeps the version", (v) => {
    const raw =
      familyOf(v) === "020"
        ? { cniVersion: v, ip4: { ip: "10.1.2.3/24" } }
        : { cniVersion: v, ips: familyOf(v) === "040" ? IPS_040 : [{ address: "10.1.2.3/24" }] };
    expect(parseResult(raw).cniVersion).toBe(v);
  });

  it.each(SPEC_VERSIONS)("[%s] takes the fallback version when the result has no or an empty cniVersion", (v) => {
    const body =
      familyOf(v) === "020"
        ? { ip4: { ip: "10.1.2.3/24" } }
        : { ips: familyOf(v) === "040" ? IPS_040 : [{ address: "10.1.2.3/24" }] };
    expect(parseResult(body, v).cniVersion).toBe(v);
    expect(parseResult({ ...body, cniVersion: "" }, v).cniVersion).toBe(v);
  });

  it("assumes 0.1.0 when neither the result nor the caller names a version", () => {
    expect(parseResult({ ip4: { ip: "10.1.2.3/24" } })).toEqual({ cniVersion: "0.1.0", ip4: { ip: "10.1.2.3/24" } });
    expect(parseResult({ ip4: { ip: "10.1.2.3/24" } }, "").cniVersion).toBe("0.1.0");
  });

  it("accepts JSON text and treats null as an empty result", () => {
    expect(parseResult('{"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/24"}]}').cniVersion).toBe("1.0.0");
    expect(parseResult("null", "0.2.0")).toEqual({ cniVersion: "0.2.0" });
  });

  it("matches keys case-insensitively and drops unknown keys, as Go's decoder does", () => {
    const r = parseResult({
      CNIVersion: "1.1.0",
      IPs: [{ Address: "10.1.2.3/24", GATEWAY: "10.1.2.1", extra: 1 }],
      bogus: true,
    });
    expect(r).toEqual({ cniVersion: "1.1.0", ips: [{ address: "10.1.2.3/24", gateway: "10.1.2.1" }] });
  });

  it("canonicalizes addresses and drops an empty gateway", () => {
    const r = parseResult({ cniVersion: "1.0.0", ips: [{ address: "2001:DB8::0:5/64", gateway: "" }] });
    expect(r).toEqual({ cniVersion: "1.0.0", ips: [{ address: "2001:db8::5/64" }] });
  });

  it("names the field of a wrong type with code 6", () => {
    const e = caught(() => parseResult({ cniVersion: "1.1.0", interfaces: [{ name: "eth0", mtu: "abc" }] }));
    expect(e.code).toBe(6);
    expect(e.msg).toBe('invalid result: "interfaces[0].mtu" must be an integer, got "abc"');
    expect(caught(() => parseResult({ cniVersion: "0.4.0", ips: [{ version: "4" }] })).msg).toBe(
      'invalid result: "ips[0].address" is required',
    );
    expect(caught(() => parseResult({ cniVersion: 1 })).msg).toBe(
      'invalid result: "cniVersion" must be a string, got 1',
    );
  });

  it("rejects a bad address with Go's message and says which field", () => {
    const e = caught(() => parseResult({ cniVersion: "0.4.0", ips: [{ version: "4", address: "010.1.2.3/24" }] }));
    expect([e.code, e.msg]).toEqual([6, "invalid CIDR address: 010.1.2.3/24"]);
    expect(e.details).toContain('"ips[0].address"');
    expect(
      caught(() => parseResult({ cniVersion: "1.0.0", routes: [{ dst: "0.0.0.0/0", gw: "300.1.1.1" }] })).msg,
    ).toBe("invalid IP address: 300.1.1.1");
  });

  it(
    "reports an address that does not parse before a wrong type or a wrong " +
      "version, as Go's decoder does (differential test found the version reported)",
    () => {
      expect(caught(() => createResult("1.0.0", { cniVersion: "2.0.0", ips: [{ address: "10.1.2.3" }] })).msg).toBe(
        "invalid CIDR address: 10.1.2.3",
      );
      expect(
        caught(() =>
          createResult("0.4.0", {
            ips: [{ version: "4", address: "10.1.2.3/24" }],
            routes: [{ dst: "0.0.0.0/0", gw: "1.2.3" }],
          }),
        ).msg,
      ).toBe("invalid IP address: 1.2.3");
      expect(
        caught(() =>
          parseResult({ cniVersion: "1.0.0", interfaces: [{ mtu: "x" }], ips: [{ address: "10.1.2.300/24" }] }),
        ).msg,
      ).toBe("invalid CIDR address: 10.1.2.300/24");
      expect(
        caught(() => createResult("0.4.0", { cniVersion: "1.0.0", ips: [{ interface: "x", address: "10.1.2.3/24" }] }))
          .msg,
      ).toBe('invalid result: "ips[0].interface" must be an integer, got "x"');
    },
  );

  it(
    "refuses integers a JS number cannot hold exactly instead of printing " +
      "another number (differential test found 2^53+1 printed as 2^53)",
    () => {
      const e = caught(() =>
        parseResult(
          '{"cniVersion":"0.4.0","ips":[{"version":"4","interface":9007199254740993,"address":"10.1.2.3/24"}]}',
        ),
      );
      expect([e.code, e.msg]).toEqual([
        6,
        'invalid result: "ips[0].interface" must be an integer between ' +
          "-9007199254740991 and 9007199254740991, got 9007199254740992",
      ]);
      expect(
        caught(() =>
          parseResult({
            cniVersion: "0.2.0",
            ip4: { ip: "10.1.2.3/24", routes: [{ dst: "0.0.0.0/0", table: 2 ** 60 }] },
          }),
        ).msg,
      ).toContain('"ip4.routes[0].table"');
      expect(
        parseResult({
          cniVersion: "1.1.0",
          interfaces: [{ name: "e", mtu: Number.MAX_SAFE_INTEGER }],
          routes: [{ dst: "0.0.0.0/0", scope: -1 }],
        }).cniVersion,
      ).toBe("1.1.0");
    },
  );

  it(
    "reports an integer beyond Go's int before the version check, as Go's " +
      "decoder fails on it (differential test found the version reported)",
    () => {
      const e = caught(() => createResult("1.0.0", { ips: [{ interface: 2 ** 64, address: "10.1.2.3/24" }] }));
      expect(e.msg).toBe(
        'invalid result: "ips[0].interface" must be an integer between ' +
          "-9007199254740991 and 9007199254740991, got 18446744073709552000",
      );
      const late = caught(() => createResult("1.0.0", { ips: [{ interface: 2 ** 60, address: "10.1.2.3/24" }] }));
      expect(late.msg).toBe('result type supports [1.0.0 1.1.0] but unmarshalled CNIVersion is ""');
    },
  );

  it("refuses unknown versions with the reference message", () => {
    const e = caught(() => parseResult({ cniVersion: "0.5.0" }));
    expect([e.code, e.msg]).toEqual([6, 'unsupported CNI result version "0.5.0"']);
  });

  it(
    "gives an interface without a name and a 0.3.x/0.4.0 ip without a version " +
      '"", which Go always prints (differential test found both left out)',
    () => {
      const r = parseResult(
        '{"cniVersion":"0.4.0","interfaces":[{"mac":"00:11:22:33:44:55"}],"ips":[{"address":"10.1.2.3/24"}]}',
      );
      expect(r).toEqual({
        cniVersion: "0.4.0",
        interfaces: [{ name: "", mac: "00:11:22:33:44:55" }],
        ips: [{ version: "", address: "10.1.2.3/24" }],
      });
      expect(formatResult(r)).toContain('"name": ""');
      expect(formatResult(r)).toContain('"version": "",');
      expect(parseResult('{"cniVersion":"1.1.0","interfaces":[{}],"ips":[{"address":"10.1.2.3/24"}]}')).toEqual({
        cniVersion: "1.1.0",
        interfaces: [{ name: "" }],
        ips: [{ address: "10.1.2.3/24" }],
      });
    },
  );

  it('reads a null in a dns list as "", as Go does (differential test found it refused)', () => {
    const r = parseResult(
      '{"cniVersion":"1.1.0","dns":{"nameservers":[null,"10.96.0.10"],"search":[null],"options":null}}',
    );
    expect(r.dns).toEqual({ nameservers: ["", "10.96.0.10"], search: [""] });
    expect(formatResult(r)).toContain('"search": [\n            ""\n        ]');
  });

  it("refuses non-object JSON", () => {
    expect(caught(() => parseResult("[1]")).code).toBe(6);
    expect(caught(() => parseResult("{")).code).toBe(6);
  });
});

describe("parsePrevResult", () => {
  const prev100 = {
    cniVersion: "1.0.0",
    ips: [{ address: "10.1.2.3/24", interface: 0 }],
    interfaces: [{ name: "eth0" }],
  };

  it("returns undefined when the config has no prevResult", () => {
    expect(parsePrevResult({ name: "n" }, "1.1.0")).toBeUndefined();
    expect(parsePrevResult({ prevResult: null }, "1.1.0")).toBeUndefined();
  });

  it("accepts a 1.0.0 prevResult in a 1.1.0 config and upconverts it", () => {
    expect(parsePrevResult({ prevResult: prev100 }, "1.1.0")).toEqual({ ...prev100, cniVersion: "1.1.0" });
  });

  it("fills a missing prevResult version from the config and upconverts 0.x results", () => {
    const r = parsePrevResult({ PrevResult: { ips: [{ version: "4", address: "10.1.2.3/24" }] } }, "0.4.0");
    expect(r).toEqual({ cniVersion: "1.1.0", ips: [{ address: "10.1.2.3/24" }] });
  });

  it.each([
    [
      "0.2.0",
      "1.1.0",
      'could not parse prevResult: result type supports [1.0.0 1.1.0] but unmarshalled CNIVersion is "0.2.0"',
    ],
    [
      "0.4.0",
      "1.1.0",
      'could not parse prevResult: result type supports [1.0.0 1.1.0] but unmarshalled CNIVersion is "0.4.0"',
    ],
    [
      "1.0.0",
      "0.4.0",
      'could not parse prevResult: result type supports [0.3.0 0.3.1 0.4.0] but unmarshalled CNIVersion is "1.0.0"',
    ],
    [
      "0.4.0",
      "0.2.0",
      'could not parse prevResult: result type supports [ 0.1.0 0.2.0] but unmarshalled CNIVersion is "0.4.0"',
    ],
  ])("refuses a %s prevResult in a %s config with the reference message", (prev, conf, msg) => {
    const e = caught(() => parsePrevResult({ prevResult: { cniVersion: prev } }, conf));
    expect([e.code, e.msg]).toEqual([6, msg]);
  });

  it("reports a wrong-typed field inside prevResult with code 6", () => {
    const e = caught(() => parsePrevResult({ prevResult: { cniVersion: "1.1.0", ips: "x" } }, "1.1.0"));
    expect([e.code, e.msg]).toEqual([6, 'could not parse prevResult: invalid result: "ips" must be an array, got "x"']);
    expect(caught(() => parsePrevResult({ prevResult: "x" }, "1.1.0")).msg).toBe(
      'could not parse prevResult: "prevResult" must be an object, got "x"',
    );
  });

  it("prints an upconverted prevResult like any 1.1.0 result", () => {
    const r = parsePrevResult({ prevResult: prev100 }, "1.1.0");
    expect(r && formatResult(r)).toContain('"interface": 0');
  });
});

describe("decodeVersionInfo", () => {
  it("reads cniVersion and supportedVersions", () => {
    expect(decodeVersionInfo('{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}')).toEqual({
      cniVersion: "1.1.0",
      supportedVersions: ["1.0.0", "1.1.0"],
    });
  });
  it("treats a 0.2.0 answer without supportedVersions as 0.1.0 and 0.2.0", () => {
    expect(decodeVersionInfo({ cniVersion: "0.2.0" }).supportedVersions).toEqual(["0.1.0", "0.2.0"]);
  });
  it("names the missing field", () => {
    expect(caught(() => decodeVersionInfo({ supportedVersions: ["1.0.0"] })).msg).toBe(
      "decoding version info: missing field cniVersion",
    );
    expect(caught(() => decodeVersionInfo({ cniVersion: "1.0.0" })).msg).toBe(
      "decoding version info: missing field supportedVersions",
    );
    expect(caught(() => decodeVersionInfo({ cniVersion: "1.0.0", supportedVersions: [1] })).msg).toBe(
      'decoding version info: "supportedVersions[0]" must be a string, got 1',
    );
  });
});
