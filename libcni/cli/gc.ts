import type { Command } from "./command.ts";

export const gc: Command = {
  name: "gc",
  summary: "Garbage collect network interfaces",
  description:
    "Runs DEL for every cached attachment of the network (no attachment is kept: all are treated as stale),\n" +
    "then GC for every plugin (cniVersion 1.1.0 or later) with an empty cni.dev/valid-attachments, so the\n" +
    "plugins release what the network still holds. The <netns> argument is required but unused.",
  async run({ cni, list }) {
    // every attachment is stale to this tool: say so to the plugins too (the Go cnitool sends no list, which
    // plugins read as "release everything" or refuse)
    await cni.gcNetworkList(list, { validAttachments: [] });
  },
};
