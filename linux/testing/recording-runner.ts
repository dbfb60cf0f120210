/** A CommandRunner fake for unit tests: records every call and answers from a function. */
import type { CommandResult, CommandRunner } from "../command.ts";

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
