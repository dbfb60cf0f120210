import type { Command } from "./command.ts";

export const del: Command = {
  name: "del",
  summary: "Delete network interface from a network namespace",
  description: "Runs DEL for every plugin of the network, last plugin first, and removes the cached result.",
  async run({ cni, list, rt }) {
    await cni.delNetworkList(list, rt);
  },
};
