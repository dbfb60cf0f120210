import { describe, expect, it } from "vitest";
import { parseExposition, sampleValue } from "../testing/prometheus-text.ts";
import { formatValue, histogramSamples, renderFamilies } from "./exposition.ts";

describe("Prometheus text exposition", () => {
  it("writes HELP and TYPE before the samples and escapes help text and label values", () => {
    const text = renderFamilies([
      {
        name: "weft_x_total",
        help: 'a \\ back\nslash "help"',
        type: "counter",
        samples: [{ labels: { path: 'C:\\dir "q"\nnext' }, value: 3 }],
      },
    ]);
    expect(text).toBe(
      [
        '# HELP weft_x_total a \\\\ back\\nslash "help"',
        "# TYPE weft_x_total counter",
        'weft_x_total{path="C:\\\\dir \\"q\\"\\nnext"} 3',
        "",
      ].join("\n"),
    );
    const parsed = parseExposition(text);
    expect(parsed.get("weft_x_total")?.help).toBe('a \\ back\nslash "help"');
    expect(sampleValue(parsed, "weft_x_total", { path: 'C:\\dir "q"\nnext' })).toBe(3);
  });

  it("spells the special values as the format does", () => {
    expect([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 0.25, 7].map(formatValue)).toEqual([
      "+Inf",
      "-Inf",
      "NaN",
      "0.25",
      "7",
    ]);
  });

  it("writes a histogram as cumulative buckets ending in +Inf, then _sum and _count", () => {
    const text = renderFamilies([
      {
        name: "weft_d_seconds",
        help: "d",
        type: "histogram",
        samples: histogramSamples([0.1, 1], [2, 5], 6, 3.5, { command: "ADD" }),
      },
    ]);
    const p = parseExposition(text);
    expect(sampleValue(p, "weft_d_seconds_bucket", { command: "ADD", le: "0.1" })).toBe(2);
    expect(sampleValue(p, "weft_d_seconds_bucket", { command: "ADD", le: "+Inf" })).toBe(6);
    expect(sampleValue(p, "weft_d_seconds_sum", { command: "ADD" })).toBe(3.5);
    expect(sampleValue(p, "weft_d_seconds_count", { command: "ADD" })).toBe(6);
  });

  it("refuses a metric or label name the format does not allow, and a family given twice", () => {
    expect(() => renderFamilies([{ name: "weft-x", help: "", type: "gauge", samples: [] }])).toThrow(/metric name/);
    expect(() =>
      renderFamilies([{ name: "weft_x", help: "", type: "gauge", samples: [{ labels: { "a-b": "" }, value: 1 }] }]),
    ).toThrow(/label name/);
    const f = { name: "weft_x", help: "", type: "gauge" as const, samples: [] };
    expect(() => renderFamilies([f, f])).toThrow(/twice/);
  });
});

describe("the strict test parser rejects what a scraper would", () => {
  const bad: [string, string, RegExp][] = [
    ["a sample before its TYPE", "x 1\n", /before its # TYPE/],
    ["a family split in two", '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n', /split/],
    ["a duplicate series", '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n', /duplicate/],
    ["a bad escape", '# TYPE a gauge\na{x="\\t"} 1\n', /bad escape/],
    ["a bad value", "# TYPE a gauge\na one\n", /bad value/],
    ["a counter not named _total", "# TYPE a counter\na 1\n", /_total/],
    ["a negative counter", "# TYPE a_total counter\na_total -1\n", /counter/],
    [
      "buckets that are not cumulative",
      '# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="2"} 2\nh_bucket{le="+Inf"} 3\nh_sum 1\nh_count 3\n',
      /cumulative/,
    ],
    ["a histogram without +Inf", '# TYPE h histogram\nh_bucket{le="1"} 3\nh_sum 1\nh_count 3\n', /\+Inf/],
    ["no final newline", "# TYPE a gauge\na 1", /newline/],
  ];
  it.each(bad)("%s", (_what, text, err) => {
    expect(() => parseExposition(text)).toThrow(err);
  });
});
