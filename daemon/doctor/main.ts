/**
 * The `doctor` role of the weft binary: check this node's flannel network and say what to fix.
 * Exit codes: 0 no check failed, 1 a check failed, 2 bad flags.
 */
import { FlagError } from "../flags.ts";
import { exitCode } from "./check.ts";
import { runDoctor } from "./doctor.ts";
import { doctorHelp, parseDoctorArgs } from "./options.ts";
import { formatJson, formatTable } from "./report.ts";
import { systemContext, type DoctorPlugins } from "./system.ts";

export async function main(argv: readonly string[], plugins: DoctorPlugins): Promise<number> {
  let parsed: ReturnType<typeof parseDoctorArgs>;
  try {
    parsed = parseDoctorArgs(argv, process.env);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`weft doctor: ${e.message}\n`);
    return 2;
  }
  if (parsed.options.help || parsed.flags.help) {
    process.stdout.write(doctorHelp());
    return 0;
  }
  const ctx = await systemContext(parsed.flags, parsed.options, plugins);
  try {
    const results = await runDoctor(ctx);
    const width = process.stdout.columns && process.stdout.columns > 60 ? process.stdout.columns : 110;
    process.stdout.write(parsed.options.json ? formatJson(results) : formatTable(results, width));
    return exitCode(results);
  } finally {
    ctx.store?.close();
    ctx.nl.close();
  }
}
