/**
 * The one-property link verbs of `NetlinkClient`, written once on top of the two primitives every
 * client implements (`setLink`, `setBridgePort`) and its link-name resolution. `RtnetlinkClient`
 * and the `RecordingNetlink` fake both extend it, so the shorthand cannot drift between them.
 */
import type { BridgePortChange, LinkChange, LinkRef } from "./link.ts";

export abstract class LinkVerbs {
  /** Change several link properties in one request. */
  abstract setLink(ref: LinkRef, change: LinkChange): void;
  abstract setBridgePort(ref: LinkRef, change: BridgePortChange): void;
  /** The ifindex of `ref`; LinkNotFoundError when a named link is absent. */
  protected abstract linkIndex(ref: LinkRef): number;

  setLinkUp(ref: LinkRef): void {
    this.setLink(ref, { up: true });
  }
  setLinkDown(ref: LinkRef): void {
    this.setLink(ref, { up: false });
  }
  setMtu(ref: LinkRef, mtu: number): void {
    this.setLink(ref, { mtu });
  }
  setMac(ref: LinkRef, mac: string): void {
    this.setLink(ref, { mac });
  }
  /** Enslave to a bridge, or release with `null`. */
  setMaster(ref: LinkRef, master: LinkRef | null): void {
    this.setLink(ref, { masterIndex: master === null ? 0 : this.linkIndex(master) });
  }
  setPromisc(ref: LinkRef, on: boolean): void {
    this.setLink(ref, { promisc: on });
  }
  /** Move the link to the netns open at `netnsFd`. */
  setNetns(ref: LinkRef, netnsFd: number): void {
    this.setLink(ref, { netnsFd });
  }
  /** Rename (the link must be down). */
  rename(ref: LinkRef, name: string): void {
    this.setLink(ref, { name });
  }
  setHairpin(ref: LinkRef, on: boolean): void {
    this.setBridgePort(ref, { hairpin: on });
  }
}
