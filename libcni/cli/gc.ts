import type { Command } from "./command.ts";

export const gc: Command = {
  name: "gc",
  summary: "Garbage collect network interfaces",
  description:
    "Runs DEL for every cached attachment of the network (no attachment is kept: all are treated as stale),\n" +
    "then GC for every plugin (cniVersion 1.1.0 or later). The <netns> argument is required but unused.",
  async run({ cni, list }) {
    await cni.gcNetworkList(list);
  },
};
