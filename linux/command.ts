/**
 * Running rule-set tools (iptables, nft): one `CommandRunner` interface and the execa-backed
 * implementation (execa is loaded on first use, keeping it off the CNI exec startup path). The
 * recording fake for unit tests is linux/testing/recording-runner.ts.
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

/** Runs commands through execa (found on PATH). */
export const execaRunner: CommandRunner = {
  async run(cmd, args, input) {
    const { execa } = await import("execa");
    const r = await execa(cmd, [...args], {
      reject: false,
      stripFinalNewline: false,
      // no exit hook: execa's (signal-exit) re-raises SIGTERM when a tool runs at that moment, killing
      // flanneld before its own shutdown; a rule tool is short-lived and needs no killing at exit
      cleanup: false,
      ...(input !== undefined ? { input } : { stdin: "ignore" as const }),
    });
    if (r.failed && r.exitCode === undefined) {
      // The tool could not be started at all (e.g. ENOENT): say which one.
      return { exitCode: 127, stdout: "", stderr: `${cmd}: ${r.originalMessage ?? r.shortMessage}` };
    }
    return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
  },
};
