import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { uapiControl, uapiExchange } from "./uapi-client.ts";
import { UapiError } from "./uapi.ts";

const key = (b: number) => Buffer.alloc(32, b).toString("base64");

/** A UAPI server that records each request and answers with `answer(request)`, in small pieces. */
async function fakeDevice(
  answer: (req: string) => string | undefined,
): Promise<{ path: string; requests: string[]; server: Server }> {
  const dir = mkdtempSync(join(tmpdir(), "weft-uapi-"));
  const path = join(dir, "wg0.sock");
  const requests: string[] = [];
  const server = createServer((c) => {
    let got = "";
    c.setEncoding("utf8");
    c.on("data", (d: string) => {
      got += d;
      if (!got.endsWith("\n\n")) return;
      requests.push(got);
      const a = answer(got);
      if (a === undefined) return; // never answers
      for (let i = 0; i < a.length; i += 7) c.write(a.slice(i, i + 7));
    });
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  cleanups.push(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, requests, server };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe("UAPI socket client", () => {
  it("sends a set and accepts errno=0 arriving in pieces", async () => {
    const d = await fakeDevice(() => "errno=0\n\n");
    await uapiControl(d.path).configure({ listenPort: 51820, peers: [{ publicKey: key(2), remove: true }] });
    expect(d.requests).toEqual([`set=1\nlisten_port=51820\npublic_key=${"02".repeat(32)}\nremove=true\n\n`]);
  });

  it("turns a non-zero errno into UapiError", async () => {
    const d = await fakeDevice(() => "errno=-98\n\n");
    await expect(uapiControl(d.path).configure({ listenPort: 51820 })).rejects.toThrow(UapiError);
    await expect(uapiControl(d.path).configure({ listenPort: 51820 })).rejects.toThrow(/errno=-98 \(EADDRINUSE\)/);
  });

  it("reads the device with get=1, one connection per operation", async () => {
    const d = await fakeDevice((req) =>
      req === "get=1\n\n" ? `private_key=${"01".repeat(32)}\nlisten_port=51821\nerrno=0\n\n` : "errno=-22\n\n",
    );
    const dev = await uapiControl(d.path).read();
    expect(dev).toEqual({ privateKey: key(1), listenPort: 51821, fwmark: 0, peers: [] });
  });

  it("says nothing listens when there is no socket, and gives up on a silent one", async () => {
    await expect(uapiExchange("/nonexistent/weft/wg0.sock", "get=1\n\n")).rejects.toThrow(
      /no WireGuard implementation is listening there \(ENOENT\)/,
    );
    const d = await fakeDevice(() => undefined);
    await expect(uapiExchange(d.path, "get=1\n\n", 200)).rejects.toThrow(/no answer .* within 200 ms/);
  });
});
