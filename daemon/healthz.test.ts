import { describe, expect, it } from "vitest";
import { startHealthz } from "./healthz.ts";

describe("healthz server", () => {
  it("answers /healthz always and /readyz only once ready", async () => {
    let ready = false;
    const s = await startHealthz("127.0.0.1", 0, () => ready);
    const get = async (p: string) => {
      const r = await fetch(`http://127.0.0.1:${s.port}${p}`);
      return `${r.status} ${await r.text()}`;
    };
    expect(await get("/healthz")).toBe("200 flanneld is running");
    expect(await get("/readyz")).toBe("503 flanneld is not ready yet");
    ready = true;
    expect(await get("/readyz")).toBe("200 flanneld is ready");
    expect((await get("/other")).startsWith("404")).toBe(true);
    await s.close();
  });

  it("says which flags to change when the port is taken", async () => {
    const a = await startHealthz("127.0.0.1", 0, () => true);
    await expect(startHealthz("127.0.0.1", a.port, () => true)).rejects.toThrow(/--healthz-ip\/--healthz-port/);
    await a.close();
  });
});
