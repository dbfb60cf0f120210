/**
 * One CNI call through flanneld's CNI socket without a pod netns (STATUS), over node:net: the
 * request frame, the daemon's offer, GO, then the result (libcni/relay/protocol.ts).
 */
import { connect } from "node:net";
import { GO, decodeAnswer, encodeRequest } from "../../libcni/relay/protocol.ts";
import { errorMessage } from "../log.ts";
import type { RelayAnswer } from "./context.ts";

export function relayCall(
  socket: string,
  env: Readonly<Record<string, string>>,
  stdin: string,
  timeoutMs = 10_000,
): Promise<RelayAnswer> {
  return new Promise((resolve) => {
    let buf = new Uint8Array();
    let offered = false;
    let done = false;
    const s = connect(socket);
    const finish = (a: RelayAnswer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => finish({ answered: false, why: `no answer within ${timeoutMs} ms` }), timeoutMs);
    s.on("error", (e) => finish({ answered: false, why: errorMessage(e) }));
    s.on("close", () => finish({ answered: false, why: offered ? "connection closed during the call" : "no offer" }));
    s.on("connect", () => {
      const frame = encodeRequest({
        env,
        stdin: new TextEncoder().encode(stdin),
        hasNetnsFd: false,
        ownNetns: false,
        netnsErrno: 0,
      });
      s.write(frame);
    });
    s.on("data", (chunk: Buffer) => {
      const next = new Uint8Array(buf.byteLength + chunk.byteLength);
      next.set(buf, 0);
      next.set(chunk, buf.byteLength);
      buf = next;
      for (;;) {
        let a: ReturnType<typeof decodeAnswer>;
        try {
          a = decodeAnswer(buf);
        } catch (e) {
          return finish({ answered: false, why: errorMessage(e) });
        }
        if (a === undefined) return;
        if (a.kind === "refuse") return finish({ answered: false, why: `refused: ${a.reason}` });
        if (a.kind === "result")
          return finish({
            answered: true,
            exitCode: a.result.exitCode,
            stdout: new TextDecoder().decode(a.result.stdout),
          });
        offered = true;
        buf = buf.subarray(1);
        s.write(Uint8Array.of(GO));
      }
    });
  });
}
