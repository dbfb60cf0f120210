/**
 * Running iptables / nft: the CommandRunner shape shared with daemon/rules (so its RecordingRunner
 * fake works here too), with a node:child_process implementation that keeps execa out of a CNI
 * call's startup.
 */
import { spawn } from "node:child_process";
import type { CommandResult, CommandRunner } from "../../daemon/rules/runner.ts";

export type { CommandResult, CommandRunner };

export const spawnRunner: CommandRunner = (cmd, args, input) =>
  new Promise<CommandResult>((resolve) => {
    const p = spawn(cmd, [...args], { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout?.on("data", (b: Buffer) => out.push(b));
    p.stderr?.on("data", (b: Buffer) => err.push(b));
    p.on("error", (e) => resolve({ exitCode: 127, stdout: "", stderr: e.message }));
    p.on("close", (code) => resolve({ exitCode: code ?? -1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    if (input !== undefined) p.stdin?.end(input);
  });
