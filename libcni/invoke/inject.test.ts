import { describe, expect, it } from "vitest";
import { confListFromBytes } from "../conf.ts";
import { parseResult } from "../types/index.ts";
import { buildOneConfig, injectConf, runtimeConfigFor } from "./inject.ts";

const plugin = (text: string) => {
  const p = confListFromBytes(`{"name":"n","plugins":[${text}]}`).plugins[0];
  if (!p) throw new Error("no plugin");
  return p;
};
const prev040 = parseResult({
  cniVersion: "0.4.0",
  ips: [{ version: "4", address: "10.0.0.2/24", gateway: "10.0.0.1", interface: 0 }],
  interfaces: [{ name: "eth0" }],
});

describe("the config sent to a plugin", () => {
  it("sets name and cniVersion over the plugin's own, keys sorted like Go's map encoding", () => {
    expect(
      buildOneConfig(plugin('{"type":"t","name":"own","cniVersion":"0.3.1","zeta":1,"alpha":{"y":1,"x":2}}'), {
        name: "net",
        cniVersion: "1.0.0",
      }),
    ).toBe('{"alpha":{"x":2,"y":1},"cniVersion":"1.0.0","name":"net","type":"t","zeta":1}');
  });

  it("embeds prevResult in the result's own key order when nothing else is injected (Go marshals the struct)", () => {
    const text = buildOneConfig(plugin('{"type":"t"}'), { name: "n", cniVersion: "0.4.0", prevResult: prev040 });
    expect(text).toContain(
      '"prevResult":{"cniVersion":"0.4.0","interfaces":[{"name":"eth0"}],"ips":[{"version":"4",' +
        '"interface":0,"address":"10.0.0.2/24","gateway":"10.0.0.1"}],"dns":{}}',
    );
  });

  it("sorts prevResult too when runtimeConfig is injected (Go's second pass decodes it into a map)", () => {
    const text = buildOneConfig(plugin('{"type":"t","capabilities":{"mac":true}}'), {
      name: "n",
      cniVersion: "0.4.0",
      prevResult: prev040,
      capabilityArgs: { mac: "c2:00:00:00:00:01" },
    });
    expect(text).toContain(
      '"prevResult":{"cniVersion":"0.4.0","dns":{},"interfaces":[{"name":"eth0"}],' +
        '"ips":[{"address":"10.0.0.2/24","gateway":"10.0.0.1","interface":0,"version":"4"}]}',
    );
    expect(text).toContain('"runtimeConfig":{"mac":"c2:00:00:00:00:01"}');
  });

  it("leaves a user-written runtimeConfig alone when no capability matches, and replaces it when one does", () => {
    const p = plugin('{"type":"t","capabilities":{"mac":true},"runtimeConfig":{"old":1}}');
    expect(buildOneConfig(p, { name: "n", cniVersion: "1.0.0", capabilityArgs: { ips: ["10.0.0.5/24"] } })).toContain(
      '"runtimeConfig":{"old":1}',
    );
    expect(buildOneConfig(p, { name: "n", cniVersion: "1.0.0", capabilityArgs: { mac: "m" } })).toContain(
      '"runtimeConfig":{"mac":"m"}',
    );
  });

  it("keeps a supplied capability whose value is null", () => {
    expect(runtimeConfigFor({ portMappings: true }, { portMappings: null })?.get("portMappings")).toBeNull();
  });

  it("keeps the capabilities key (the reference does not strip it)", () => {
    expect(
      buildOneConfig(plugin('{"type":"t","capabilities":{"mac":false}}'), { name: "n", cniVersion: "1.0.0" }),
    ).toContain('"capabilities":{"mac":false}');
  });

  it("rejects empty keys and nil values, like InjectConf", () => {
    const p = plugin('{"type":"t"}');
    expect(() => injectConf(p, new Map([["", 1]]))).toThrow("keys cannot be empty");
    expect(() => injectConf(p, new Map([["k", null]]))).toThrow("key 'k' value must not be nil");
  });

  it("writes GC attachments as Go writes types.GCAttachment", () => {
    const att = [{ containerID: "c1", ifname: "eth0" }];
    const text = injectConf(
      plugin('{"type":"t"}'),
      new Map<string, unknown>([
        ["cni.dev/valid-attachments", att],
        ["cni.dev/attachments", att],
        ["name", "n"],
        ["cniVersion", "1.1.0"],
      ]),
    );
    expect(text).toBe(
      '{"cni.dev/attachments":[{"containerID":"c1","ifname":"eth0"}],' +
        '"cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}],"cniVersion":"1.1.0","name":"n",' +
        '"type":"t"}',
    );
  });
});
