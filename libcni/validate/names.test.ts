import { describe, expect, it } from "vitest";
import { CniError } from "../types/error.ts";
import { validateContainerID, validateInterfaceName, validateNetworkName } from "./names.ts";

function caught(f: () => unknown): CniError | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof CniError) return e;
    throw e;
  }
  return undefined;
}

describe("name rules", () => {
  it("accept container IDs and network names that start alphanumeric and use [A-Za-z0-9_.-]", () => {
    for (const ok of ["a", "0abc", "pod_1.x-y", "A"]) {
      expect(caught(() => validateContainerID(ok))).toBeUndefined();
      expect(caught(() => validateNetworkName(ok))).toBeUndefined();
    }
  });

  it("reject container IDs with code 3 when empty and code 4 with the ID in details when malformed", () => {
    expect(caught(() => validateContainerID(""))?.toJSON()).toMatchObject({ code: 3, msg: "missing containerID" });
    const e = caught(() => validateContainerID("some-%%container-id"));
    expect([e?.code, e?.msg, e?.details.startsWith("some-%%container-id")]).toEqual([
      4,
      "invalid characters in containerID",
      true,
    ]);
    expect(caught(() => validateContainerID("-abc"))?.code).toBe(4);
  });

  it("reject network names with code 7", () => {
    expect(caught(() => validateNetworkName(""))?.msg).toBe("missing network name:");
    const e = caught(() => validateNetworkName("te%%st"));
    expect([e?.code, e?.msg, e?.details.startsWith("te%%st")]).toEqual([
      7,
      "invalid characters found in network name",
      true,
    ]);
  });

  it.each([
    ["", "interface name is empty"],
    ["a".repeat(16), "interface name is too long"],
    ["ééééééééé", "interface name is too long"],
    [".", "interface name is . or .."],
    ["..", "interface name is . or .."],
    ["eth/0", "interface name contains / or : or whitespace characters"],
    ["eth:0", "interface name contains / or : or whitespace characters"],
    ["eth 0", "interface name contains / or : or whitespace characters"],
    ["eth\t0", "interface name contains / or : or whitespace characters"],
    ["eth\u00a00", "interface name contains / or : or whitespace characters"],
  ])("reject interface name %j with code 4: %s", (name, msg) => {
    const e = caught(() => validateInterfaceName(name));
    expect([e?.code, e?.msg]).toEqual([4, msg]);
  });

  it("accept 15-byte interface names and keep the reference details for long ones", () => {
    expect(caught(() => validateInterfaceName("a".repeat(15)))).toBeUndefined();
    expect(
      caught(() => validateInterfaceName("a".repeat(16)))?.details.startsWith(
        "interface name should be less than 16 characters",
      ),
    ).toBe(true);
  });
});
