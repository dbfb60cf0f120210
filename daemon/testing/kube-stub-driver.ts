// Root-test driver (run with bun inside a test netns): the stub Kubernetes API server
// (daemon/testing/stub-apiserver.ts) with the given nodes and podCIDRs, reachable on <host>:<port>
// through a plain TCP relay (the stub itself listens on the netns' loopback only).
//   bun kube-stub-driver.ts <host> <port> <token> '<{"node1": ["fd00:10:244:1::/64"], ...}>'
// Prints "ready" once both listen; runs until killed.
import { connect, createServer } from "node:net";
import { StubApiServer } from "./stub-apiserver.ts";

const [host = "", port = "0", token = "", nodesJson = "{}"] = process.argv.slice(2);
const api = new StubApiServer(token);
await api.start();
for (const [name, podCIDRs] of Object.entries(JSON.parse(nodesJson) as Record<string, string[]>))
  api.setNode(name, { podCIDRs });
const relay = createServer((c) => {
  const up = connect(api.port, "127.0.0.1");
  c.pipe(up);
  up.pipe(c);
  c.on("error", () => up.destroy());
  up.on("error", () => c.destroy());
});
relay.listen(Number(port), host, () => process.stdout.write("ready\n"));
