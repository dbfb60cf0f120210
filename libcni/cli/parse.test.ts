import { describe, expect, it } from "vitest";
import { parseArgv } from "./parse.ts";

const CMDS = ["add", "check", "del", "gc", "status"];

describe("cnitool argument parsing", () => {
  it("takes a subcommand, the network and the netns", () => {
    expect(parseArgv(["add", "net", "/run/netns/x"], CMDS)).toEqual({
      kind: "run",
      command: "add",
      args: ["net", "/run/netns/x"],
      ifname: "",
    });
  });

  it.each([
    [["add", "net", "ns", "-i", "eth1"]],
    [["-i", "eth1", "add", "net", "ns"]],
    [["add", "--ifname", "eth1", "net", "ns"]],
    [["add", "net", "--ifname=eth1", "ns"]],
    [["add", "net", "ns", "-ieth1"]],
    [["add", "net", "ns", "-i=eth1"]],
  ])("accepts the interface flag anywhere: %j", (argv) => {
    expect(parseArgv(argv, CMDS)).toMatchObject({ kind: "run", args: ["net", "ns"], ifname: "eth1" });
  });

  it("accepts extra positional arguments like cobra's MinimumNArgs", () => {
    expect(parseArgv(["del", "net", "ns", "extra"], CMDS)).toMatchObject({ kind: "run", args: ["net", "ns", "extra"] });
  });

  it("stops reading flags after --", () => {
    expect(parseArgv(["add", "--", "net", "-weird-ns"], CMDS)).toMatchObject({
      kind: "run",
      args: ["net", "-weird-ns"],
    });
  });

  it("requires two arguments, saying how many it got", () => {
    expect(parseArgv(["add", "net"], CMDS)).toEqual({
      kind: "error",
      command: "add",
      message: "requires at least 2 arg(s), only received 1",
    });
    expect(parseArgv(["gc"], CMDS)).toMatchObject({ message: "requires at least 2 arg(s), only received 0" });
  });

  it("shows help with no arguments, -h, --help and help <cmd>", () => {
    expect(parseArgv([], CMDS)).toEqual({ kind: "help" });
    expect(parseArgv(["--help"], CMDS)).toEqual({ kind: "help" });
    expect(parseArgv(["help", "add"], CMDS)).toEqual({ kind: "help", command: "add" });
    expect(parseArgv(["add", "-h"], CMDS)).toEqual({ kind: "help", command: "add" });
  });

  it("rejects unknown commands and flags with cobra's words", () => {
    expect(parseArgv(["nope", "a", "b"], CMDS)).toEqual({
      kind: "error",
      message: 'unknown command "nope" for "cnitool"',
    });
    expect(parseArgv(["add", "--bogus", "a", "b"], CMDS)).toEqual({ kind: "error", message: "unknown flag: --bogus" });
    expect(parseArgv(["add", "-x", "a", "b"], CMDS)).toEqual({
      kind: "error",
      message: "unknown shorthand flag: 'x' in -x",
    });
    expect(parseArgv(["add", "a", "b", "-i"], CMDS)).toEqual({
      kind: "error",
      message: "flag needs an argument: 'i' in -i",
    });
  });
});
