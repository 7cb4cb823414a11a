// HOST:PORT addresses as the daemons take them on their command lines: split into the host and the
// port, as node:http and the advertised addresses want them.

export function splitAddress(address: string): { readonly host: string; readonly port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}
