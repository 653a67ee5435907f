/**
 * Where a simulator listens, and the URL its clients use. They differ when it runs in a
 * container: it listens on 0.0.0.0 inside, and clients reach it through a port mapping, so the
 * URLs it hands out (activation links, profile endpoints, manage URLs, wallet addresses) must
 * name the mapped address.
 */
export interface SimAddress {
  /** listen address; default 127.0.0.1 */
  host?: string;
  /** the base URL clients use; default http://<host>:<port> */
  publicUrl?: string;
}

export function simUrl(o: SimAddress, port: number): string {
  return o.publicUrl?.replace(/\/+$/, '') ?? `http://${o.host ?? '127.0.0.1'}:${port}`;
}
