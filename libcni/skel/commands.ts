/**
 * The protocol rules of the plugin side as data: which environment each CNI_COMMAND needs,
 * the lowest config version it exists in, whether stdin is read. skel.ts only walks these tables.
 */
import { CniError, ErrorCode } from "../types/error.ts";
import { validateContainerID, validateInterfaceName } from "../validate/names.ts";

export type CommandName = "ADD" | "DEL" | "CHECK" | "GC" | "STATUS" | "VERSION";

export type EnvName = "CNI_COMMAND" | "CNI_CONTAINERID" | "CNI_NETNS" | "CNI_IFNAME" | "CNI_ARGS" | "CNI_PATH";

export interface CommandSpec {
  /** Variables that must be non-empty besides CNI_COMMAND (reference skel; CNI_ARGS never is). */
  readonly requiredEnv: readonly EnvName[];
  /** Lowest config cniVersion the command exists in. */
  readonly minVersion?: string;
  /** VERSION answers without reading stdin. */
  readonly readsStdin: boolean;
  /**
   * Whether CNI_NETNS is refused when it is the plugin's own network namespace: "before" the
   * callback runs (so a refused call changes nothing), or "none" for commands that enter no netns.
   */
  readonly netnsCheck: "before" | "none";
  /**
   * A prevResult that does not decode: "fail" (code 6), or "ignore" (warn on stderr and run
   * without it: DEL must clean up whatever the runtime cached).
   */
  readonly badPrevResult: "fail" | "ignore";
}

export const COMMANDS: Readonly<Record<CommandName, CommandSpec>> = {
  ADD: {
    requiredEnv: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
    readsStdin: true,
    netnsCheck: "before",
    badPrevResult: "fail",
  },
  DEL: {
    requiredEnv: ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
    readsStdin: true,
    netnsCheck: "before",
    badPrevResult: "ignore",
  },
  CHECK: {
    requiredEnv: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
    minVersion: "0.4.0",
    readsStdin: true,
    netnsCheck: "before",
    badPrevResult: "fail",
  },
  GC: { requiredEnv: ["CNI_PATH"], minVersion: "1.1.0", readsStdin: true, netnsCheck: "none", badPrevResult: "fail" },
  STATUS: {
    requiredEnv: ["CNI_PATH"],
    minVersion: "1.1.0",
    readsStdin: true,
    netnsCheck: "none",
    badPrevResult: "fail",
  },
  VERSION: { requiredEnv: [], readsStdin: false, netnsCheck: "none", badPrevResult: "fail" },
};

export function isCommand(c: string): c is CommandName {
  return Object.hasOwn(COMMANDS, c);
}

/** Declaration order (missing variables are listed in it) and the validator of each. */
const ENV_ORDER: ReadonlyArray<readonly [EnvName, ((v: string) => void) | undefined]> = [
  ["CNI_COMMAND", undefined],
  ["CNI_CONTAINERID", validateContainerID],
  ["CNI_NETNS", undefined],
  ["CNI_IFNAME", validateInterfaceName],
  ["CNI_ARGS", undefined],
  ["CNI_PATH", undefined],
];

const COMMAND_LIST = Object.keys(COMMANDS).join(", ");

function listWords(xs: readonly string[]): string {
  return xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1] ?? ""}`;
}

/**
 * Read and check the environment as the reference does: a present required variable is
 * validated on the spot (first invalid one throws), and all missing ones are reported together:
 * code 4 "required env variables [CNI_NETNS,CNI_IFNAME] missing".
 */
export function readEnv(env: Readonly<Record<string, string | undefined>>): Readonly<Record<EnvName, string>> {
  const cmd = env["CNI_COMMAND"] ?? "";
  const spec = isCommand(cmd) ? COMMANDS[cmd] : undefined;
  const values = {} as Record<EnvName, string>;
  const missing: EnvName[] = [];
  for (const [name, validate] of ENV_ORDER) {
    const v = env[name] ?? "";
    values[name] = v;
    const required = name === "CNI_COMMAND" || (spec?.requiredEnv.includes(name) ?? false);
    if (v === "" && required) missing.push(name);
    else if (v !== "" && required && validate) validate(v);
  }
  if (missing.length > 0) {
    const how =
      cmd === ""
        ? `set CNI_COMMAND to one of ${COMMAND_LIST}`
        : `CNI_COMMAND=${cmd} needs ${listWords(spec?.requiredEnv ?? [])} set to non-empty values`;
    throw new CniError(
      ErrorCode.InvalidEnvironmentVariables,
      `required env variables [${missing.join(",")}] missing`,
      how,
    );
  }
  return values;
}

/** Code 4 "unknown CNI_COMMAND: X", naming the commands that exist. */
export function unknownCommand(cmd: string): CniError {
  return new CniError(
    ErrorCode.InvalidEnvironmentVariables,
    `unknown CNI_COMMAND: ${cmd}`,
    `CNI_COMMAND must be one of ${COMMAND_LIST}`,
  );
}
