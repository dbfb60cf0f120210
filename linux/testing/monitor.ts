/**
 * Root-test driver (bun): opens a link+addr+route monitor inside the netns named argv[2], makes
 * changes there with iproute2 (the independent actor), drains the events and prints them as JSON.
 */
import { execFileSync } from "node:child_process";
import { openMonitor } from "../netlink/open.ts";

const ns = process.argv[2] ?? "";
const mon = openMonitor({ netns: `/run/netns/${ns}`, topics: ["link", "addr", "route"] });
const before = mon.poll();
const ip = (...args: string[]): void => void execFileSync("ip", ["-n", ns, ...args]);
ip("link", "add", "ev0", "type", "veth", "peer", "name", "ev1");
ip("link", "set", "ev0", "up");
ip("addr", "add", "192.0.2.1/24", "dev", "ev0");
ip("link", "del", "ev0");
const events = mon.poll();
const after = mon.poll();
mon.close();
const brief = events.map((e) => {
  switch (e.kind) {
    case "link":
      return `${e.action} link ${e.link.name}`;
    case "addr":
      return `${e.action} addr ${e.addr.ip}/${e.addr.prefixLen}`;
    case "route":
      return `${e.action} route ${e.route.dst} table ${e.route.table}`;
    default:
      return e.kind;
  }
});
process.stdout.write(`${JSON.stringify({ before: before.length, events: brief, after: after.length })}\n`);
