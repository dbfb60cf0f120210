// A recording UdpKernel for the udp backend's unit tests: remembers the device spec it was asked
// for, every route table handed to the forwarder, repairs and stops, and lets a test fail the
// forwarder or remove the device.
import { zeroCounters, type ForwarderStats } from "../backend/udp/protocol.ts";
import type { PeerRoute } from "../backend/udp/table.ts";
import type { UdpDataPath, UdpDeviceSpec, UdpKernel } from "../backend/udp/udp-backend.ts";

export class FakeUdpDataPath implements UdpDataPath {
  readonly name = "flannel0";
  readonly index = 7;
  readonly offloads = "none";
  readonly tables: PeerRoute[][] = [];
  stops = 0;
  repairs = 0;
  /** what the next repair() reports */
  nextRepair = { repaired: 0, present: true };
  private fail!: (e: Error) => void;
  private finish!: () => void;
  readonly done: Promise<void>;

  constructor(initial: readonly PeerRoute[]) {
    this.tables.push([...initial]);
    this.done = new Promise<void>((resolve, reject) => {
      this.finish = resolve;
      this.fail = reject;
    });
  }

  get routes(): readonly PeerRoute[] {
    return this.tables[this.tables.length - 1] ?? [];
  }

  async setRoutes(routes: readonly PeerRoute[]): Promise<void> {
    this.tables.push([...routes]);
  }

  async stats(): Promise<ForwarderStats> {
    return { ...zeroCounters(), routes: this.routes.length, routesGen: this.tables.length - 1 };
  }

  repair(): { repaired: number; present: boolean } {
    this.repairs++;
    return this.nextRepair;
  }

  async stop(): Promise<void> {
    this.stops++;
    this.finish();
  }

  /** Make the forwarder fail as a crashed worker does. */
  crash(message: string): void {
    this.fail(new Error(message));
  }
}

export class FakeUdpKernel implements UdpKernel {
  readonly started: { spec: UdpDeviceSpec; dp: FakeUdpDataPath }[] = [];
  /** an error start() throws instead, e.g. the port in use */
  startError: Error | undefined;

  async start(spec: UdpDeviceSpec, routes: readonly PeerRoute[]): Promise<UdpDataPath> {
    if (this.startError) throw this.startError;
    const dp = new FakeUdpDataPath(routes);
    this.started.push({ spec, dp });
    return dp;
  }

  get last(): FakeUdpDataPath {
    const s = this.started[this.started.length - 1];
    if (!s) throw new Error("the udp kernel was never started");
    return s.dp;
  }
}
