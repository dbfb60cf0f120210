/**
 * cnitool's command line, parsed the way the reference's cobra/pflag setup does: a subcommand,
 * positional arguments, and one persistent flag -i/--ifname (also -iX, -i=X, --ifname=X) that may
 * appear anywhere; `--` ends the flags; -h/--help and `help [cmd]` ask for help.
 */

export type Parsed =
  | { readonly kind: "help"; readonly command?: string }
  | { readonly kind: "run"; readonly command: string; readonly args: readonly string[]; readonly ifname: string }
  | { readonly kind: "error"; readonly message: string; readonly command?: string };

export function parseArgv(argv: readonly string[], commands: readonly string[]): Parsed {
  const positional: string[] = [];
  let ifname = "";
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a === "-h" || a === "--help") help = true;
    else if (a === "--ifname" || a === "-i") {
      const v = argv[i + 1];
      if (v === undefined)
        return {
          kind: "error",
          message: a === "-i" ? "flag needs an argument: 'i' in -i" : "flag needs an argument: --ifname",
        };
      ifname = v;
      i++;
    } else if (a.startsWith("--ifname=")) ifname = a.slice("--ifname=".length);
    else if (a.startsWith("-i") && !a.startsWith("--")) ifname = a.slice(a[2] === "=" ? 3 : 2);
    else if (a.startsWith("--") && a.length > 2)
      return { kind: "error", message: `unknown flag: ${a.split("=")[0] ?? a}` };
    else if (a.startsWith("-") && a.length > 1)
      return { kind: "error", message: `unknown shorthand flag: '${a[1] ?? ""}' in ${a}` };
    else positional.push(a);
  }
  const [first, ...rest] = positional;
  if (first === undefined) return { kind: "help" };
  if (first === "help") return rest[0] === undefined ? { kind: "help" } : { kind: "help", command: rest[0] };
  if (!commands.includes(first)) return { kind: "error", message: `unknown command "${first}" for "cnitool"` };
  if (help) return { kind: "help", command: first };
  if (rest.length < 2)
    return { kind: "error", command: first, message: `requires at least 2 arg(s), only received ${rest.length}` };
  return { kind: "run", command: first, args: rest, ifname };
}
