// The registered domain (eTLD+1) of a query name, shared by the collector (record keys) and the detector
// (per-domain state), so both group tunnel names under the same parent.
import { getDomain } from "tldts";

// Characters a hostname label may hold (plus "_" for service labels); tunnel payload labels often don't.
const HOST_LABEL = /^[a-z0-9_-]{1,63}$/i;

/**
 * eTLD+1 by the public suffix list; the name itself when it has none (single labels, IP literals, root).
 * The suffix list refuses a whole name when a left label is not a hostname label (base64 tunnel payloads
 * with "+" or "/"), so the lookup retries on the labels right of the last such label: otherwise every
 * tunnel query would be its own "domain" and per-domain windows would never see the tunnel.
 */
export function registeredDomain(qname: string): string {
  if (qname === "") return "";
  const direct = getDomain(qname, { allowPrivateDomains: false });
  if (direct !== null) return direct;
  const labels = qname.replace(/\.$/, "").split(".");
  let i = labels.length;
  while (i > 0 && HOST_LABEL.test(labels[i - 1]!)) i--;
  if (i === 0 || i === labels.length) return qname;
  return getDomain(labels.slice(i).join("."), { allowPrivateDomains: false }) ?? qname;
}
