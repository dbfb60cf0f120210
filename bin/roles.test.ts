import { describe, expect, it } from "vitest";
import { selectRole } from "./roles.ts";

describe("role dispatch", () => {
  it("picks the role from the invoked name of a link", () => {
    expect(selectRole("/opt/cni/bin/host-local", ["x"])).toEqual({ role: "host-local", rest: ["x"] });
    expect(selectRole("./bridge", [])).toEqual({ role: "bridge", rest: [] });
    // flannel installs the script as mk-docker-opts.sh; units call it by that name
    expect(selectRole("/opt/bin/mk-docker-opts.sh", ["-c"])).toEqual({ role: "mk-docker-opts", rest: ["-c"] });
  });
  it("picks the role from the first argument when run as weft or bun", () => {
    expect(selectRole("/usr/local/bin/weft", ["cnitool", "add", "n", "/run/netns/a"])).toEqual({
      role: "cnitool",
      rest: ["add", "n", "/run/netns/a"],
    });
    expect(selectRole("bun", ["flanneld", "--version"])).toEqual({ role: "flanneld", rest: ["--version"] });
  });
  it("returns nothing for an unknown name and argument", () => {
    expect(selectRole("weft", ["nope"])).toBeUndefined();
    expect(selectRole("weft", [])).toBeUndefined();
  });
});
