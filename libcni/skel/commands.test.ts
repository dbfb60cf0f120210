import { statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { COMMANDS, isCommand, readEnv } from "./commands.ts";
import { processIO } from "./skel.ts";

describe("COMMANDS table", () => {
  it("requires the environment the reference skel requires, per command", () => {
    const required = Object.fromEntries(Object.entries(COMMANDS).map(([c, s]) => [c, s.requiredEnv]));
    expect(required).toEqual({
      ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
      DEL: ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
      CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
      GC: ["CNI_PATH"],
      STATUS: ["CNI_PATH"],
      VERSION: [],
    });
  });

  it("gates CHECK at 0.4.0 and GC/STATUS at 1.1.0, and only VERSION skips stdin", () => {
    expect(
      Object.entries(COMMANDS)
        .filter(([, s]) => s.minVersion)
        .map(([c, s]) => `${c}>=${s.minVersion}`),
    ).toEqual(["CHECK>=0.4.0", "GC>=1.1.0", "STATUS>=1.1.0"]);
    expect(
      Object.entries(COMMANDS)
        .filter(([, s]) => !s.readsStdin)
        .map(([c]) => c),
    ).toEqual(["VERSION"]);
    expect(isCommand("ADD")).toBe(true);
    expect(isCommand("add")).toBe(false);
  });

  it("validates a present required variable before reporting missing ones, as the reference does", () => {
    expect(() => readEnv({ CNI_COMMAND: "ADD", CNI_CONTAINERID: "bad id" })).toThrow(
      "invalid characters in containerID",
    );
    expect(() => readEnv({ CNI_COMMAND: "GC", CNI_CONTAINERID: "bad id", CNI_PATH: "/x" })).not.toThrow();
  });
});

describe("processIO", () => {
  it("recognises the process's own network namespace by identity and answers undefined otherwise", async () => {
    const io = await processIO();
    const ino = statSync("/proc/self/ns/net").ino;
    expect(await io.ownNetns?.("/proc/self/ns/net")).toBe(`net:[${ino}]`);
    expect(await io.ownNetns?.("/nonexistent/netns")).toBeUndefined();
    expect(await io.ownNetns?.("/proc/self/ns/uts")).toBeUndefined();
  });
});
