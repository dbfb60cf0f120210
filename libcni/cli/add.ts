import { formatResult } from "../types/index.ts";
import type { Command } from "./command.ts";

export const add: Command = {
  name: "add",
  summary: "Add network interface to a network namespace",
  description: "Runs ADD for every plugin of the network, in order, and prints the final result as JSON.",
  async run({ cni, list, rt, out }) {
    out.write(formatResult(await cni.addNetworkList(list, rt)));
  },
};
