import { describe, expect, it } from "vitest";
import {
  fromJsonTree,
  getFieldFold,
  goString,
  isJsonMap,
  marshalGo,
  parseJsonTree,
  RawJson,
  RawNumber,
} from "./gojson.ts";

describe("Go-compatible JSON", () => {
  it("sorts object keys at every level, as Go marshals maps", () => {
    expect(marshalGo({ b: 1, a: { z: true, y: [{ d: null, c: "x" }] } })).toBe(
      '{"a":{"y":[{"c":"x","d":null}],"z":true},"b":1}',
    );
  });

  it("sorts keys by UTF-8 bytes, not UTF-16 units", () => {
    // U+FF21 sorts before U+1F600 in UTF-8 but after it in UTF-16 code units.
    expect(marshalGo({ "\u{1F600}": 1, "\uFF21": 2 })).toBe('{"\uFF21":2,"\u{1F600}":1}');
  });

  it("escapes strings like Go's json.Marshal (HTML-safe)", () => {
    expect(goString('a<b>&"\\\n\t\u0001\u2028')).toBe('"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\t\\u0001\\u2028"');
    expect(goString("\ud800x")).toBe('"\\ufffdx"');
  });

  it("keeps number literals exactly as written", () => {
    const t = parseJsonTree('{"big": 12345678901234567890, "f": 1.50, "e": 1E3}');
    expect(marshalGo(t)).toBe('{"big":12345678901234567890,"e":1E3,"f":1.50}');
  });

  it("writes JS numbers in Go's float64 form", () => {
    expect(marshalGo([1500, 0.5, 1e21, 1e-7, -0])).toBe("[1500,0.5,1e+21,1e-7,0]");
  });

  it("embeds RawJson verbatim", () => {
    expect(marshalGo({ b: new RawJson('{"z":1,"a":2}'), a: 1 })).toBe('{"a":1,"b":{"z":1,"a":2}}');
  });

  it("parses duplicate keys keeping the last value, as Go does", () => {
    const t = parseJsonTree('{"a":1,"a":2}');
    expect(isJsonMap(t) && (t.get("a") as RawNumber).text).toBe("2");
  });

  it("finds struct fields case-insensitively", () => {
    const t = parseJsonTree('{"Kind":"x","CONTAINERID":"c"}');
    if (!isJsonMap(t)) throw new Error("not a map");
    expect(getFieldFold(t, "kind")).toBe("x");
    expect(getFieldFold(t, "containerId")).toBe("c");
    expect(getFieldFold(t, "ifName")).toBeUndefined();
  });

  it("round-trips to plain values", () => {
    expect(fromJsonTree(parseJsonTree(' { "a" : [ 1 , "s" , { } , [ ] , false ] } '))).toEqual({
      a: [1, "s", {}, [], false],
    });
  });

  it("reports malformed JSON with the native parser's message", () => {
    expect(() => parseJsonTree('{"a":')).toThrow(SyntaxError);
  });
});
