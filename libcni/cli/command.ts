/** The shape of one cnitool subcommand (like cnitool/cmd/<name>.go in the reference). */
import type { CniRuntime } from "../api.ts";
import type { NetworkConfigList, RuntimeConf } from "../conf.ts";

export interface CommandContext {
  readonly cni: CniRuntime;
  readonly list: NetworkConfigList;
  readonly rt: RuntimeConf;
  /** Where results go (stdout). */
  readonly out: { write(s: string): unknown };
}

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** A few lines for `cnitool <name> --help`. */
  readonly description: string;
  run(ctx: CommandContext): Promise<void>;
}
