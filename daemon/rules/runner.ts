// The one way rule code runs iptables / nft: an injectable command runner, so rule logic is
// unit-tested with a recording fake and the daemon uses execa.
export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type CommandRunner = (cmd: string, args: readonly string[], input?: string) => Promise<CommandResult>;

/** The real runner (execa, loaded lazily so unit tests of pure code never spawn). */
export const execaRunner: CommandRunner = async (cmd, args, input) => {
  const { execa } = await import("execa");
  const r = await execa(cmd, [...args], { reject: false, ...(input !== undefined ? { input } : { stdin: "ignore" }) });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
};

/** Records calls and answers from a script; unmatched calls succeed with empty output. */
export class RecordingRunner {
  readonly calls: { cmd: string; args: readonly string[]; input?: string }[] = [];
  constructor(private readonly answer: (cmd: string, args: readonly string[], input?: string) => CommandResult | undefined = () => undefined) {}
  readonly run: CommandRunner = async (cmd, args, input) => {
    this.calls.push(input === undefined ? { cmd, args } : { cmd, args, input });
    return this.answer(cmd, args, input) ?? { exitCode: 0, stdout: "", stderr: "" };
  };
}
