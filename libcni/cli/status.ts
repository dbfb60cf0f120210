import type { Command } from "./command.ts";

export const status: Command = {
  name: "status",
  summary: "Get status of network interfaces",
  description:
    "Runs STATUS for every plugin of the network (cniVersion 1.1.0 or later); fails " +
    "with the first plugin's error.\nThe <netns> argument is required but unused.",
  async run({ cni, list }) {
    await cni.getStatusNetworkList(list);
  },
};
