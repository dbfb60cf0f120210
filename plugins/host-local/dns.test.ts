import { describe, expect, it } from "vitest";
import { parseResolvConf } from "./dns.ts";

describe("resolv.conf parsing (checklist 58)", () => {
  it("reads nameserver, domain, search and options and ignores comments and short lines", () => {
    const text = [
      "# a comment",
      "; another comment",
      "",
      "nameserver 1.1.1.1",
      "  nameserver   8.8.8.8  ",
      "domain example.com",
      "search example.com example.net",
      "options ndots:5 timeout:2",
      "options attempts:3",
      "nameserver",
      "sortlist 10.0.0.0",
    ].join("\n");
    expect(parseResolvConf(text)).toEqual({
      nameservers: ["1.1.1.1", "8.8.8.8"],
      domain: "example.com",
      search: ["example.com", "example.net"],
      options: ["ndots:5", "timeout:2", "attempts:3"],
    });
  });

  it("keeps the last domain line and tolerates tabs and CRLF line ends", () => {
    expect(parseResolvConf("domain a.test\r\ndomain\tb.test\r\n")).toEqual({
      nameservers: [],
      domain: "b.test",
      search: [],
      options: [],
    });
  });

  it(
    "splits and trims on Go's whitespace, as the reference does: " +
      "U+0085 and U+00A0 separate, a byte-order mark is part of the word",
    () => {
      const text =
        "\ufeffnameserver 192.0.2.3\nnameserver\u00a0192.0.2.4\n" +
        "search\u0085s.example t.example\u3000u.example\n\fdomain d.example\u000b";
      expect(parseResolvConf(text)).toEqual({
        nameservers: ["192.0.2.4"],
        domain: "d.example",
        search: ["s.example", "t.example", "u.example"],
        options: [],
      });
    },
  );
});
