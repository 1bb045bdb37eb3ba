// Lab "nodes" for XDP mode's integration tests: a network namespace behind a veth pair in 198.18.0.0/15
// (the collector attaches to the host side), and real traffic sent from inside it: DNS queries from a
// small UDP sender and TLS 1.2 handshakes, each run with `ip netns exec`. Everything made is removable.
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

export interface LabNode {
  readonly ns: string;
  readonly hostIf: string;
  readonly hostIp: string;
  readonly peerIp: string;
  remove(): void;
}

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8" });
}

/** A /30 in 198.19.0.0/16 that no interface of this host uses yet (198.18/16 is the kernel tests'). */
function freeNet(salt: number): string {
  const used = ip("-o", "-4", "addr", "show");
  for (let i = 0; i < 250; i++) {
    const net = `198.19.${(process.pid + salt * 17 + i) % 250}`;
    if (!used.includes(` ${net}.`)) return net;
  }
  throw new Error("no free /30 in 198.19.0.0/16");
}

/** Makes namespace `name` with a veth pair; the host side gets .1, the namespace side .2 of a free /30. */
export function createLabNode(name: string, salt: number): LabNode {
  const ns = `stoq-${name}-${process.pid}`;
  const hostIf = `sx${salt}h${process.pid % 100000}`;
  const peerIf = `sx${salt}p${process.pid % 100000}`;
  const remove = (): void => {
    spawnSync("ip", ["link", "del", hostIf]);
    spawnSync("ip", ["netns", "del", ns]);
  };
  remove();
  const net = freeNet(salt);
  try {
    ip("netns", "add", ns);
    ip("link", "add", hostIf, "type", "veth", "peer", "name", peerIf, "netns", ns);
    ip("addr", "add", `${net}.1/30`, "dev", hostIf);
    ip("link", "set", hostIf, "up");
    ip("-n", ns, "addr", "add", `${net}.2/30`, "dev", peerIf);
    ip("-n", ns, "link", "set", peerIf, "up");
    ip("-n", ns, "link", "set", "lo", "up");
  } catch (e) {
    remove();
    throw e;
  }
  return { ns, hostIf, hostIp: `${net}.1`, peerIp: `${net}.2`, remove };
}

/** A DNS responder on the host side: NXDOMAIN under .invalid, else one A record (198.18.5.5). */
export async function dnsResponder(address: string): Promise<Socket & { answered: number }> {
  const s = Object.assign(createSocket("udp4"), { answered: 0 });
  s.on("message", (q, rinfo) => {
    const nx = q.includes(Buffer.from("\x07invalid\x00", "latin1"));
    const r = Buffer.from(q);
    r.writeUInt16BE(0x8180 | (nx ? 3 : 0), 2);
    const answer = nx ? Buffer.alloc(0) : Buffer.from("c00c000100010000003c0004c6120505", "hex");
    if (!nx) r.writeUInt16BE(1, 6);
    s.send(Buffer.concat([r, answer]), rinfo.port, rinfo.address);
    s.answered++;
  });
  await new Promise<void>((resolve) => s.bind(53, address, resolve));
  return s;
}

function wireQuery(id: number, qname: string): string {
  const labels = qname.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "latin1")]));
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2);
  h.writeUInt16BE(1, 4);
  return Buffer.concat([h, ...labels, Buffer.from([0, 0, 1, 0, 1])]).toString("hex");
}

/** Sends the queries from inside the namespace one at a time (300 ms for each answer); returns how many were answered. */
export async function queryFromPeer(node: LabNode, server: string, names: readonly string[]): Promise<number> {
  const msgs = names.map((n, i) => wireQuery(0x100 + i, n));
  const script = `
    const s = require("node:dgram").createSocket("udp4");
    const msgs = ${JSON.stringify(msgs)};
    let i = 0, got = 0, timer;
    const next = () => {
      if (i >= msgs.length) { s.close(); process.stdout.write(String(got)); return; }
      s.send(Buffer.from(msgs[i++], "hex"), 53, ${JSON.stringify(server)});
      timer = setTimeout(next, 300);
    };
    s.on("message", () => { got++; clearTimeout(timer); next(); });
    s.bind(0, ${JSON.stringify(node.peerIp)}, next);`;
  const { stdout } = await promisify(execFile)("ip", ["netns", "exec", node.ns, process.execPath, "-e", script], { encoding: "utf8", timeout: 30_000 });
  return Number(stdout);
}

/** One TLS 1.2 handshake from inside the namespace to host:port with SNI `servername`; resolves when closed. */
export async function tlsFromPeer(node: LabNode, host: string, port: number, servername: string): Promise<void> {
  const script = `
    const c = require("node:tls").connect({ host: ${JSON.stringify(host)}, port: ${port}, servername: ${JSON.stringify(servername)},
      rejectUnauthorized: false, maxVersion: "TLSv1.2" }, () => c.end());
    c.on("data", () => undefined);
    c.on("close", () => process.exit(0));
    c.on("error", (e) => { console.error(e.message); process.exit(1); });`;
  await promisify(execFile)("ip", ["netns", "exec", node.ns, process.execPath, "-e", script], { timeout: 30_000 });
}

/** A CA and a leaf certificate for `name` (P-256, so a whole server flight fits one segment), in `dir`. */
export function makeChain(dir: string, name: string): { key: string; chain: string } {
  const run = (...args: string[]): void => void execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=STOQ Lab CA");
  run("req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", `/CN=${name}`);
  execFileSync("sh", ["-c", `printf 'subjectAltName=DNS:${name}' > san.ext`], { cwd: dir });
  run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.pem", "-days", "10", "-extfile", "san.ext");
  const read = (f: string): string => readFileSync(join(dir, f), "utf8");
  return { key: read("leaf.key"), chain: read("leaf.pem") + read("ca.pem") };
}
