import { describe, expect, it } from "vitest";
import { RecordingExec } from "./recording-exec.ts";

const env = (command: string) => ({ CNI_COMMAND: command });

describe("RecordingExec", () => {
  it("records path, type, command, stdin, env and the parsed config of every call", async () => {
    const exec = new RecordingExec();
    await exec.execPlugin({ path: "/opt/cni/bin/bridge", stdin: '{"cniVersion":"1.0.0"}', env: env("DEL") });
    expect(exec.calls).toEqual([
      {
        path: "/opt/cni/bin/bridge",
        type: "bridge",
        command: "DEL",
        stdin: '{"cniVersion":"1.0.0"}',
        env: env("DEL"),
        config: { cniVersion: "1.0.0" },
      },
    ]);
    expect(exec.commands()).toEqual(["DEL bridge"]);
  });

  it("answers unscripted ADD with prevResult or an empty result, VERSION with every version", async () => {
    const exec = new RecordingExec();
    expect(
      JSON.parse(await exec.execPlugin({ path: "/x/a", stdin: '{"cniVersion":"0.4.0"}', env: env("ADD") })),
    ).toEqual({ cniVersion: "0.4.0" });
    expect(
      JSON.parse(
        await exec.execPlugin({
          path: "/x/a",
          stdin: '{"prevResult":{"cniVersion":"1.0.0","ips":[]}}',
          env: env("ADD"),
        }),
      ),
    ).toEqual({ cniVersion: "1.0.0", ips: [] });
    expect(JSON.parse(await exec.execPlugin({ path: "/x/a", stdin: "", env: env("VERSION") }))).toMatchObject({
      supportedVersions: expect.arrayContaining(["0.1.0", "1.1.0"]),
    });
  });

  it("uses the latest matching responder and turns scripted errors into CniErrors", async () => {
    const exec = new RecordingExec()
      .on("a", undefined, { stdout: "first" })
      .on("a", "DEL", { error: { code: 3, msg: "gone" } });
    expect(await exec.execPlugin({ path: "/x/a", stdin: "", env: env("CHECK") })).toBe("first");
    await expect(exec.execPlugin({ path: "/x/a", stdin: "", env: env("DEL") })).rejects.toMatchObject({
      code: 3,
      msg: "gone",
    });
  });

  it("finds only the plugins it was told exist", () => {
    const exec = new RecordingExec({ plugins: ["bridge"] });
    expect(exec.findInPath("bridge", ["/a", "/b"])).toBe("/a/bridge");
    expect(() => exec.findInPath("flannel", ["/a"])).toThrow('failed to find plugin "flannel" in path [/a]');
  });
});
