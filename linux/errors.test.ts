import { describe, expect, it } from "vitest";
import { Errno, errnoMessage, errnoName } from "./errno.ts";
import {
  LinkNotFoundError,
  NetlinkError,
  NetnsNotFoundError,
  NotNetnsError,
  SyscallError,
  hasErrnoCode,
} from "./errors.ts";

describe("kernel-layer errors", () => {
  it("names errnos and falls back to E<n> for unknown ones", () => {
    expect(errnoName(Errno.EEXIST)).toBe("EEXIST");
    expect(errnoMessage(19)).toBe("No such device");
    expect(errnoName(4095)).toBe("E4095");
  });

  it("puts the operation, the errno name and the kernel's text in NetlinkError", () => {
    const e = new NetlinkError(17, "RTM_NEWLINK veth eth0", "Device already exists");
    expect(e).toMatchObject({ name: "NetlinkError", code: "EEXIST", errno: 17, op: "RTM_NEWLINK veth eth0" });
    expect(e.message).toBe("RTM_NEWLINK veth eth0: EEXIST (File exists): Device already exists");
    expect(hasErrnoCode(e, "EEXIST")).toBe(true);
  });

  it("makes LinkNotFoundError a NetlinkError with ENODEV", () => {
    const e = new LinkNotFoundError("eth0");
    expect(e).toBeInstanceOf(NetlinkError);
    expect(e).toMatchObject({ name: "LinkNotFoundError", code: "ENODEV", link: "eth0" });
  });

  it("gives syscall and netns errors stable codes", () => {
    expect(new SyscallError(2, "open /x")).toMatchObject({
      code: "ENOENT",
      message: "open /x: ENOENT (No such file or directory)",
    });
    expect(new NetnsNotFoundError("/run/netns/x")).toMatchObject({ code: "ENOENT", path: "/run/netns/x" });
    expect(new NotNetnsError("/etc/hostname", 0xef53).message).toContain("0xef53");
    expect(hasErrnoCode(null, "ENOENT")).toBe(false);
  });
});
