/**
 * CNI_ARGS ("K=V;K2=V2") read the way the reference's args loader reads them into a plugin's
 * argument struct: every pair needs exactly one "=", keys match field names exactly, unknown keys
 * are an error unless IgnoreUnknown is "1"/"true" (any case). Errors are code 4 (the environment).
 */
import { CniError, ErrorCode } from "../../libcni/types/error.ts";

/**
 * Parse CNI_ARGS, accepting only `known` keys (IgnoreUnknown is always known). `check` sees each
 * known key's value where its pair stands and may throw: as in Go, a bad value is reported before
 * unknown keys, which are reported only once every pair has been read.
 */
export function parseCniArgs(
  text: string,
  known: readonly string[],
  check?: (key: string, value: string) => void,
): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  if (text === "") return out;
  const unknown: string[] = [];
  for (const pair of text.split(";")) {
    const kv = pair.split("=");
    if (kv.length !== 2) {
      throw new CniError(
        ErrorCode.InvalidEnvironmentVariables,
        `ARGS: invalid pair ${JSON.stringify(pair)}`,
        "CNI_ARGS must look like K1=V1;K2=V2",
      );
    }
    const [k = "", v = ""] = kv;
    if (k === "IgnoreUnknown") {
      if (!["1", "true", "0", "false"].includes(v.toLowerCase())) {
        throw new CniError(
          ErrorCode.InvalidEnvironmentVariables,
          `ARGS: error parsing value of pair ${JSON.stringify(pair)}: ` +
            `boolean unmarshal error: invalid input ${v.toLowerCase()}`,
        );
      }
      out.set(k, v.toLowerCase());
    } else if (known.includes(k)) {
      check?.(k, v);
      out.set(k, v);
    } else {
      unknown.push(pair);
    }
  }
  const ignore = out.get("IgnoreUnknown");
  if (unknown.length > 0 && ignore !== "1" && ignore !== "true") {
    throw new CniError(
      ErrorCode.InvalidEnvironmentVariables,
      `ARGS: unknown args [${unknown.map((u) => JSON.stringify(u)).join(" ")}]`,
      "add IgnoreUnknown=1 to CNI_ARGS to ignore keys this plugin does not know",
    );
  }
  return out;
}
