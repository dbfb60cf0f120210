import { describe, expect, it } from "vitest";
import { caughtCniError as caught } from "./testing/caught.ts";
import {
  CURRENT_VERSION,
  SPEC_VERSIONS,
  compareVersions,
  isSpecVersion,
  isSupportedVersion,
  parseVersion,
  reconcileVersion,
  selectConfListVersion,
  versionAtLeast,
} from "./version.ts";

describe("spec versions", () => {
  it("lists the seven spec versions oldest first and 1.1.0 as current", () => {
    expect(SPEC_VERSIONS).toEqual(["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
    expect(CURRENT_VERSION).toBe("1.1.0");
  });

  it.each(SPEC_VERSIONS)("[%s] is a spec version, supported by default and ordered after the ones before it", (v) => {
    expect(isSpecVersion(v)).toBe(true);
    expect(isSupportedVersion(v)).toBe(true);
    const i = SPEC_VERSIONS.indexOf(v);
    for (const older of SPEC_VERSIONS.slice(0, i)) expect(compareVersions(v, older)).toBe(1);
    expect(compareVersions(v, v)).toBe(0);
  });
});

describe("parseVersion", () => {
  it("reads an empty version as 0.1.0 and fills missing parts with 0", () => {
    expect(parseVersion("")).toEqual({ major: 0, minor: 1, micro: 0 });
    expect(parseVersion("1")).toEqual({ major: 1, minor: 0, micro: 0 });
    expect(parseVersion("0.4")).toEqual({ major: 0, minor: 4, micro: 0 });
    expect(parseVersion("10.20.30")).toEqual({ major: 10, minor: 20, micro: 30 });
  });

  it.each([
    ["1.0.0.0", 'invalid version "1.0.0.0": too many parts'],
    ["adsfsadf", 'invalid version "adsfsadf": major part "adsfsadf" is not an integer'],
    ["1.0.f", 'invalid version "1.0.f": micro part "f" is not an integer'],
    ["1..0", 'invalid version "1..0": minor part "" is not an integer'],
  ])("rejects %s with code 6 naming the value", (v, msg) => {
    const e = caught(() => parseVersion(v));
    expect([e.code, e.msg]).toEqual([6, msg]);
  });
});

describe("comparisons", () => {
  it("compares numerically, not as text", () => {
    expect(compareVersions("0.10.0", "0.9.0")).toBe(1);
    expect(compareVersions("", "0.1.0")).toBe(0);
    expect(versionAtLeast("0.4.0", "0.4.0")).toBe(true);
    expect(versionAtLeast("0.3.1", "0.4.0")).toBe(false);
    expect(versionAtLeast("1.1.0", "0.4.0")).toBe(true);
  });

  it("matches supported versions exactly, as the reference reconciler does", () => {
    expect(isSupportedVersion("1.0", ["1.0.0"])).toBe(false);
    expect(isSupportedVersion("4.3.2", ["4.3.2"])).toBe(true);
    expect(isSpecVersion("1.2.0")).toBe(false);
  });

  it("explains an incompatible config version with the reference details", () => {
    const e = caught(() => reconcileVersion("0.1.0", ["4.3.2"]));
    expect([e.code, e.msg, e.details]).toEqual([
      1,
      "incompatible CNI versions",
      'config is "0.1.0", plugin supports ["4.3.2"]',
    ]);
    expect(caught(() => reconcileVersion("0.5.0", ["0.4.0", "1.0.0"])).details).toBe(
      'config is "0.5.0", plugin supports ["0.4.0" "1.0.0"]',
    );
    expect(() => reconcileVersion("1.0.0", ["0.4.0", "1.0.0"])).not.toThrow();
  });
});

describe("selectConfListVersion", () => {
  it("uses cniVersion verbatim without cniVersions, even an unknown one", () => {
    expect(selectConfListVersion("1.2.3", undefined)).toBe("1.2.3");
  });
  it("picks the newest usable version, ignoring ones newer than 1.1.0 and merging cniVersion", () => {
    expect(selectConfListVersion("", ["0.4.0", "1.0.0", "1.2.0"])).toBe("1.0.0");
    expect(selectConfListVersion("1.1.0", ["0.4.0"])).toBe("1.1.0");
    expect(selectConfListVersion("2.0.0", ["0.3.1"])).toBe("0.3.1");
    expect(selectConfListVersion("", [])).toBe("");
  });
  it("rejects a malformed entry with code 7 naming its index", () => {
    const e = caught(() => selectConfListVersion("", ["1.0.0", "1.0.f"]));
    expect([e.code, e.msg]).toEqual([7, 'invalid cniVersions entry at index 1 "1.0.f"']);
  });
});
