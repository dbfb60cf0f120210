/**
 * Running rule-set tools (iptables, nft): one `CommandRunner` interface, the execa-backed
 * implementation (execa is loaded on first use, keeping it off the CNI exec startup path), and a
 * recording fake for unit tests.
 */

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandRunner {
  /** Run `cmd args`, feeding `input` on stdin; never throws for a non-zero exit. */
  run(cmd: string, args: readonly string[], input?: string): Promise<CommandResult>;
}

/** A tool exited with an unexpected status; `stderr` is the tool's own explanation. */
export class CommandError extends Error {
  override readonly name = "CommandError";
  readonly code = "ECOMMAND";
  constructor(
    readonly cmd: string,
    readonly args: readonly string[],
    readonly result: CommandResult,
  ) {
    const why = result.stderr.trim() || result.stdout.trim() || "no output";
    super(`${cmd} ${args.join(" ")} exited with status ${result.exitCode}: ${why}`);
  }
}

/** Runs commands through execa (found on PATH). */
export const execaRunner: CommandRunner = {
  async run(cmd, args, input) {
    const { execa } = await import("execa");
    const r = await execa(cmd, [...args], {
      reject: false,
      stripFinalNewline: false,
      ...(input !== undefined ? { input } : { stdin: "ignore" as const }),
    });
    if (r.failed && r.exitCode === undefined) {
      // The tool could not be started at all (e.g. ENOENT): say which one.
      return { exitCode: 127, stdout: "", stderr: `${cmd}: ${r.originalMessage ?? r.shortMessage}` };
    }
    return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
  },
};

/** One recorded invocation. */
export interface RecordedCommand {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly input?: string;
}

/**
 * Fake runner: records every call and answers with `respond` (default: success, no output).
 */
export class RecordingRunner implements CommandRunner {
  readonly calls: RecordedCommand[] = [];
  constructor(private readonly respond: (c: RecordedCommand) => Partial<CommandResult> = () => ({})) {}
  run(cmd: string, args: readonly string[], input?: string): Promise<CommandResult> {
    const call: RecordedCommand = input === undefined ? { cmd, args: [...args] } : { cmd, args: [...args], input };
    this.calls.push(call);
    const r = this.respond(call);
    return Promise.resolve({ exitCode: r.exitCode ?? 0, stdout: r.stdout ?? "", stderr: r.stderr ?? "" });
  }
}
