import { describe, expect, it } from "vitest";
import { convertResult } from "./convert.ts";
import { formatResult, goJson } from "./format.ts";
import { parseResult } from "./parse.ts";
import type { Result040, Result100 } from "./result.ts";

// The reference test result (pkg/types/100 types_test testResult), built here by hand.
const REF: Result100 = {
  cniVersion: "1.1.0",
  interfaces: [
    {
      name: "eth0",
      mac: "00:11:22:33:44:55",
      mtu: 1500,
      sandbox: "/proc/3553/ns/net",
      pciID: "8086:9a01",
      socketPath: "/path/to/vhost/fd",
    },
  ],
  ips: [
    { interface: 0, address: "1.2.3.30/24", gateway: "1.2.3.1" },
    { interface: 0, address: "abcd:1234:ffff::cdde/64", gateway: "abcd:1234:ffff::1" },
  ],
  routes: [
    { dst: "15.5.6.0/24", gw: "15.5.6.8" },
    { dst: "1111:dddd::/80", gw: "1111:dddd::aaaa" },
  ],
  dns: {
    nameservers: ["1.2.3.4", "1::cafe"],
    domain: "acompany.com",
    search: ["somedomain.com", "otherdomain.net"],
    options: ["foo", "bar"],
  },
};

const DNS_040 = `    "dns": {
        "nameservers": [
            "1.2.3.4",
            "1::cafe"
        ],
        "domain": "acompany.com",
        "search": [
            "somedomain.com",
            "otherdomain.net"
        ],
        "options": [
            "foo",
            "bar"
        ]
    }`;

describe("formatResult (Go json.MarshalIndent byte for byte)", () => {
  it(
    "prints a 1.1.0 result with mtu, pciID and socketPath, " +
      "keys sorted as the reference's map round trip leaves them",
    () => {
      expect(formatResult(REF)).toBe(`{
    "cniVersion": "1.1.0",
    "dns": {
        "domain": "acompany.com",
        "nameservers": [
            "1.2.3.4",
            "1::cafe"
        ],
        "options": [
            "foo",
            "bar"
        ],
        "search": [
            "somedomain.com",
            "otherdomain.net"
        ]
    },
    "interfaces": [
        {
            "mac": "00:11:22:33:44:55",
            "mtu": 1500,
            "name": "eth0",
            "pciID": "8086:9a01",
            "sandbox": "/proc/3553/ns/net",
            "socketPath": "/path/to/vhost/fd"
        }
    ],
    "ips": [
        {
            "address": "1.2.3.30/24",
            "gateway": "1.2.3.1",
            "interface": 0
        },
        {
            "address": "abcd:1234:ffff::cdde/64",
            "gateway": "abcd:1234:ffff::1",
            "interface": 0
        }
    ],
    "routes": [
        {
            "dst": "15.5.6.0/24",
            "gw": "15.5.6.8"
        },
        {
            "dst": "1111:dddd::/80",
            "gw": "1111:dddd::aaaa"
        }
    ]
}`);
    },
  );

  it("prints the 1.1.0 result as 0.4.0 with ip versions and without mtu, pciID, socketPath", () => {
    expect(formatResult(convertResult(REF, "0.4.0"))).toBe(`{
    "cniVersion": "0.4.0",
    "interfaces": [
        {
            "name": "eth0",
            "mac": "00:11:22:33:44:55",
            "sandbox": "/proc/3553/ns/net"
        }
    ],
    "ips": [
        {
            "version": "4",
            "interface": 0,
            "address": "1.2.3.30/24",
            "gateway": "1.2.3.1"
        },
        {
            "version": "6",
            "interface": 0,
            "address": "abcd:1234:ffff::cdde/64",
            "gateway": "abcd:1234:ffff::1"
        }
    ],
    "routes": [
        {
            "dst": "15.5.6.0/24",
            "gw": "15.5.6.8"
        },
        {
            "dst": "1111:dddd::/80",
            "gw": "1111:dddd::aaaa"
        }
    ],
${DNS_040}
}`);
  });

  it("prints the 1.1.0 result as 0.1.0 with ip4/ip6 and per-family routes", () => {
    expect(formatResult(convertResult(REF, "0.1.0"))).toBe(`{
    "cniVersion": "0.1.0",
    "ip4": {
        "ip": "1.2.3.30/24",
        "gateway": "1.2.3.1",
        "routes": [
            {
                "dst": "15.5.6.0/24",
                "gw": "15.5.6.8"
            }
        ]
    },
    "ip6": {
        "ip": "abcd:1234:ffff::cdde/64",
        "gateway": "abcd:1234:ffff::1",
        "routes": [
            {
                "dst": "1111:dddd::/80",
                "gw": "1111:dddd::aaaa"
            }
        ]
    },
${DNS_040}
}`);
  });

  it("keeps interface index 0 and omits an unset index", () => {
    const r: Result100 = {
      cniVersion: "1.0.0",
      ips: [{ address: "10.1.2.3/24", interface: 0 }, { address: "10.1.2.4/24" }],
    };
    expect(formatResult(r)).toBe(`{
    "cniVersion": "1.0.0",
    "ips": [
        {
            "address": "10.1.2.3/24",
            "interface": 0
        },
        {
            "address": "10.1.2.4/24"
        }
    ]
}`);
  });

  it('omits an empty dns block in 1.x but always prints "dns": {} in 0.x', () => {
    const r100: Result100 = {
      cniVersion: "1.1.0",
      ips: [{ address: "10.1.2.3/24" }],
      dns: { nameservers: [], search: [] },
    };
    expect(formatResult(r100)).not.toContain("dns");
    const r040: Result040 = { cniVersion: "0.4.0", ips: [{ version: "4", address: "10.1.2.3/24" }] };
    expect(formatResult(r040)).toBe(`{
    "cniVersion": "0.4.0",
    "ips": [
        {
            "version": "4",
            "address": "10.1.2.3/24"
        }
    ],
    "dns": {}
}`);
    expect(formatResult(convertResult(r040, "0.2.0"))).toBe(`{
    "cniVersion": "0.2.0",
    "ip4": {
        "ip": "10.1.2.3/24"
    },
    "dns": {}
}`);
  });

  it("omits zero mtu/advmss/priority but prints table and scope 0, in Go field order for 0.x", () => {
    const r: Result040 = {
      cniVersion: "0.3.1",
      routes: [
        { dst: "10.0.0.0/8", gw: "", mtu: 0, advmss: 0, priority: 0, table: 0, scope: 0 },
        { dst: "10.1.0.0/16", scope: 253, priority: 5, advmss: 1360, mtu: 9000, gw: "10.0.0.1" },
      ],
    };
    expect(formatResult(r)).toBe(`{
    "cniVersion": "0.3.1",
    "routes": [
        {
            "dst": "10.0.0.0/8",
            "table": 0,
            "scope": 0
        },
        {
            "dst": "10.1.0.0/16",
            "gw": "10.0.0.1",
            "mtu": 9000,
            "advmss": 1360,
            "priority": 5,
            "scope": 253
        }
    ],
    "dns": {}
}`);
  });

  it("prints addresses in Go's canonical text", () => {
    const r: Result100 = {
      cniVersion: "1.1.0",
      ips: [
        { address: "2001:DB8:0:0:0:0:0:0005/64", gateway: "2001:db8:0:0:1:0:0:1" },
        { address: "::ffff:10.1.2.3/120", gateway: "::ffff:10.1.2.1" },
      ],
      routes: [{ dst: "0:0:0:0:0:0:0:0/0" }],
    };
    expect(formatResult(r)).toBe(`{
    "cniVersion": "1.1.0",
    "ips": [
        {
            "address": "2001:db8::5/64",
            "gateway": "2001:db8::1:0:0:1"
        },
        {
            "address": "10.1.2.3/24",
            "gateway": "10.1.2.1"
        }
    ],
    "routes": [
        {
            "dst": "::/0"
        }
    ]
}`);
  });

  it("escapes <, >, & and U+2028 as Go does and ends without a newline", () => {
    const out = formatResult({ cniVersion: "1.1.0", interfaces: [{ name: "a<b>&c\u2028" }] });
    expect(out).toContain(`"name": "a\\u003cb\\u003e\\u0026c\\u2028"`);
    expect(out.endsWith("}")).toBe(true);
    expect(goJson({ a: [1] }, 0)).toBe(`{"a":[1]}`);
  });

  it(
    "prints a lone UTF-16 surrogate as U+FFFD, as Go does after " +
      "decoding \\ud800 (differential test found it printed as \\ud800)",
    () => {
      const out = formatResult(
        parseResult(
          '{"cniVersion":"0.4.0","interfaces":[{"name":"a\\ud800b\\udc00"}],"dns":{"domain":"\\ud83d\\ude00"}}',
        ),
      );
      expect(out).toContain(`"name": "a\ufffdb\ufffd"`);
      expect(out).toContain(`"domain": "\u{1f600}"`);
    },
  );
});
