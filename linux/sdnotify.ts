/**
 * systemd's readiness protocol (sd_notify): one datagram such as "READY=1" to the AF_UNIX socket
 * named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Neither Node nor Bun has
 * unix datagram sockets, so this goes through libc. Without NOTIFY_SOCKET it does nothing.
 */
import { close, sendto, socket } from "./ffi/libc.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;

/** sockaddr_un for a path or an abstract name ("@..."); exported for tests. */
export function unixAddress(name: string): Uint8Array {
  const path = new TextEncoder().encode(name.startsWith("@") ? `\0${name.slice(1)}` : name);
  if (path.byteLength > 107) throw new Error(`NOTIFY_SOCKET path too long (${path.byteLength} bytes, max 107)`);
  const addr = new Uint8Array(2 + path.byteLength + (name.startsWith("@") ? 0 : 1));
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(path, 2);
  return addr;
}

/** Send `state` (e.g. "READY=1\nSTATUS=...") to systemd; false when not run under a notify unit. */
export function sdNotify(state: string, env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const target = env["NOTIFY_SOCKET"];
  if (!target) return false;
  const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  try {
    sendto(fd, new TextEncoder().encode(state), 0, unixAddress(target));
    return true;
  } finally {
    close(fd);
  }
}
