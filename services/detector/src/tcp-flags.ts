// TCP flag bits as FlowRecord.tcp_flags_* carry them (the TCP header's flags byte, RFC 9293), and the
// judgements about a flow's handshake that the flow detectors share.
import type { FlowRecord } from "../../../lib/src/avro.js";

export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;
const TCP = 6;

/** The initiator sent a SYN: a connection attempt. */
export function isTcpAttempt(f: FlowRecord): boolean {
  return f.protocol === TCP && (f.tcp_flags_fwd & TCP_FLAGS.SYN) !== 0;
}

/** An attempt whose initiator never acknowledged anything: the handshake was never completed. */
export function isHalfOpen(f: FlowRecord): boolean {
  return isTcpAttempt(f) && (f.tcp_flags_fwd & TCP_FLAGS.ACK) === 0;
}

/** The responder refused (RST) or never answered: what a probe of a closed or filtered port gets. */
export function isFailedAttempt(f: FlowRecord): boolean {
  if (f.protocol === TCP) return isHalfOpen(f) || ((f.tcp_flags_rev & TCP_FLAGS.RST) !== 0 && f.bytes_rev <= 80 * Math.max(1, f.packets_rev));
  return f.packets_rev === 0;
}
