/**
 * resolv.conf parsing for `ipam.resolvConf` (pure). Blank lines, `#`/`;` comments and lines with
 * fewer than two fields are skipped; `nameserver` and `search`/`options` append, `domain` replaces.
 */
export interface Dns {
  readonly nameservers: string[];
  readonly domain: string;
  readonly search: string[];
  readonly options: string[];
}

export function parseResolvConf(text: string): Dns {
  const dns: { nameservers: string[]; domain: string; search: string[]; options: string[] } = {
    nameservers: [],
    domain: "",
    search: [],
    options: [],
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const [key, ...values] = line.split(/\s+/);
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
