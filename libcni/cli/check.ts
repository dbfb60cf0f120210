import type { Command } from "./command.ts";

export const check: Command = {
  name: "check",
  summary: "Check network interface in a network namespace",
  description: "Runs CHECK for every plugin of the network against the cached ADD result (cniVersion 0.4.0 or later).",
  async run({ cni, list, rt }) {
    await cni.checkNetworkList(list, rt);
  },
};
