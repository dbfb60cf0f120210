/**
 * resolv.conf parsing for `ipam.resolvConf` (pure). Blank lines, `#`/`;` comments and lines with
 * fewer than two fields are skipped; `nameserver` and `search`/`options` append, `domain` replaces.
 * Whitespace is Go's (unicode.IsSpace, what the reference's strings.TrimSpace/Fields use), not
 * JavaScript's: U+0085 separates fields, a byte-order mark U+FEFF does not.
 */
export interface Dns {
  readonly nameservers: string[];
  readonly domain: string;
  readonly search: string[];
  readonly options: string[];
}

const GO_SPACE = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const TRIM = new RegExp(`^[${GO_SPACE}]+|[${GO_SPACE}]+$`, "g");
const FIELD_SEP = new RegExp(`[${GO_SPACE}]+`);

export function parseResolvConf(text: string): Dns {
  const dns: { nameservers: string[]; domain: string; search: string[]; options: string[] } = {
    nameservers: [],
    domain: "",
    search: [],
    options: [],
  };
  for (const raw of text.split("\n")) {
    const line = raw.replace(TRIM, "");
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const [key, ...values] = line.split(FIELD_SEP);
    const first = values[0];
    if (first === undefined) continue;
    switch (key) {
      case "nameserver":
        dns.nameservers.push(first);
        break;
      case "domain":
        dns.domain = first;
        break;
      case "search":
        dns.search.push(...values);
        break;
      case "options":
        dns.options.push(...values);
        break;
    }
  }
  return dns;
}
