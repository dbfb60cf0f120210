import { describe, expect, it } from "vitest";
import { CniError } from "../types/error.ts";
import { canonicalize, decodeWith, describeValue, formatPath, schemaIssue } from "./index.ts";

describe("schema checks", () => {
  it("pass valid data and name the first wrong field otherwise", () => {
    expect(schemaIssue("result100", { cniVersion: "1.1.0", ips: [{ address: "10.1.2.3/24" }] })).toBeUndefined();
    expect(schemaIssue("result100", { ips: [{ address: "10.1.2.3/24" }, { address: 5 }] })).toEqual({
      path: "ips[1].address",
      message: '"ips[1].address" must be a string, got 5',
    });
    expect(schemaIssue("result020", { ip4: {} })).toEqual({ path: "ip4.ip", message: '"ip4.ip" is required' });
    expect(schemaIssue("netconf", [])?.message).toBe("the document must be an object, got an array");
  });

  it("format paths for people, quoting keys that are not identifiers", () => {
    expect(formatPath("")).toBe("");
    expect(formatPath("/ips/0/interface")).toBe("ips[0].interface");
    expect(formatPath("/cni.dev~1valid-attachments/0/ifname")).toBe('["cni.dev/valid-attachments"][0].ifname');
    expect(describeValue("x".repeat(100)).length).toBeLessThanOrEqual(60);
  });

  it("describes a number too large for a double as out of range, not as null", () => {
    expect(describeValue(JSON.parse('{"mtu":1e400}').mtu)).toBe("a number out of range");
    expect(describeValue(null)).toBe("null");
  });

  it("canonicalize keys case-insensitively only when asked, dropping nulls of known keys", () => {
    expect(canonicalize("versionInfo", { CNIVERSION: "1.0.0", other: 1 }, { fold: true, keepUnknown: false })).toEqual({
      cniVersion: "1.0.0",
    });
    expect(canonicalize("conflist", { Name: "x", name: "y" }, { fold: false, keepUnknown: true })).toEqual({
      name: "y",
      Name: "x",
    });
    expect(canonicalize("netconf", { name: null, type: "t" }, { fold: true, keepUnknown: true })).toEqual({
      type: "t",
    });
  });

  it("throw the requested code with a prefix and hint", () => {
    try {
      decodeWith(
        "netconf",
        { mtu: 1, type: 5 },
        { code: 7, fold: true, keepUnknown: true, prefix: "bad config: ", hint: "fix it" },
      );
      throw new Error("no error");
    } catch (e) {
      expect(e).toBeInstanceOf(CniError);
      expect((e as CniError).toJSON()).toEqual({
        code: 7,
        msg: 'bad config: "type" must be a string, got 5',
        details: "fix it",
      });
    }
  });
});
