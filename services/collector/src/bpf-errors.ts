// BpfError, the typed error every failed libbpf call or syscall of the addon becomes: errno, operation,
// target, what to do about it, and the verifier log tail when the verifier rejected a program.
import { constants } from "node:os";
import { StoqError } from "../../../lib/src/errors.js";

/** The shape the addon gives its errors (see native/src/failure.cc). */
export interface NativeFailure extends Error {
  bpfOp: string;
  bpfErrno: number;
  bpfTarget: string;
  bpfLog: string;
}

export function isNativeFailure(e: unknown): e is NativeFailure {
  return e instanceof Error && typeof (e as Partial<NativeFailure>).bpfOp === "string";
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

const E = constants.errno;
/** Lines of the verifier log kept in the message; the whole captured tail stays in `verifierLog`. */
const MESSAGE_LOG_LINES = 12;
const LOG_BEGIN = "-- BEGIN PROG LOAD LOG --";
const LOG_END = "-- END PROG LOAD LOG --";

export interface BpfErrorDetails {
  errno: number;
  operation: string;
  target: string;
  hint: string;
  libbpfLog: string;
  verifierLog: string | null;
  program: string | null;
}

export class BpfError extends StoqError {
  /** Positive errno of the failed call. */
  readonly errno: number;
  /** Its symbolic name, e.g. "EPERM". */
  readonly errnoName: string;
  /** The libbpf function or syscall that failed, e.g. "bpf_link_create(BPF_XDP)". */
  readonly operation: string;
  /** What it acted on: a map, a program, an interface, a path. */
  readonly target: string;
  /** What to do about it. */
  readonly hint: string;
  /** Everything libbpf printed during the call. */
  readonly libbpfLog: string;
  /** The verifier's log of the rejected program (its tail, when very long), or null. */
  readonly verifierLog: string | null;
  /** The program the verifier rejected, or null. */
  readonly program: string | null;

  constructor(message: string, d: BpfErrorDetails, options?: { cause?: unknown }) {
    super("BPF_FAILED", message, options);
    this.name = "BpfError";
    this.errno = d.errno;
    this.errnoName = errnoName(d.errno);
    this.operation = d.operation;
    this.target = d.target;
    this.hint = d.hint;
    this.libbpfLog = d.libbpfLog;
    this.verifierLog = d.verifierLog;
    this.program = d.program;
  }

  static fromNative(e: NativeFailure): BpfError {
    const verifier = verifierLogOf(e.bpfLog);
    const hint = hintFor(e.bpfOp, e.bpfErrno, e.bpfTarget, e.message, verifier);
    let message = `${e.message} [${errnoName(e.bpfErrno)}]. ${hint}`;
    if (verifier) {
      const tail = verifier.log.trimEnd().split("\n").slice(-MESSAGE_LOG_LINES).join("\n");
      message += `\nverifier log (last ${MESSAGE_LOG_LINES} lines):\n${tail}`;
    }
    return new BpfError(
      message,
      {
        errno: e.bpfErrno,
        operation: e.bpfOp,
        target: e.bpfTarget,
        hint,
        libbpfLog: e.bpfLog,
        verifierLog: verifier?.log ?? null,
        program: verifier?.program ?? null,
      },
      { cause: e },
    );
  }

  /** A misuse caught before any syscall (wrong argument shape); errno EINVAL. */
  static usage(operation: string, target: string, what: string): BpfError {
    return new BpfError(`${operation} (${target}): ${what}`, {
      errno: E.EINVAL,
      operation,
      target,
      hint: what,
      libbpfLog: "",
      verifierLog: null,
      program: null,
    });
  }
}

/** libbpf prints "prog 'x': -- BEGIN PROG LOAD LOG --\n...-- END PROG LOAD LOG --" for a rejected program. */
function verifierLogOf(log: string): { program: string | null; log: string } | null {
  const begin = log.lastIndexOf(LOG_BEGIN);
  if (begin < 0) return null;
  const end = log.indexOf(LOG_END, begin);
  const body = log.slice(begin + LOG_BEGIN.length, end < 0 ? undefined : end).replace(/^\n/, "");
  const lineStart = log.lastIndexOf("\n", begin) + 1;
  const program = /prog '([^']+)'/.exec(log.slice(lineStart, begin))?.[1] ?? null;
  return { program, log: body };
}

/** Attach targets read "<program> on <ifname> (<how>)"; if_nametoindex's target is the name itself. */
function ifnameOf(target: string): string {
  return / on (\S+) \(/.exec(target)?.[1] ?? target;
}

function noInterface(target: string): string {
  return `no interface "${ifnameOf(target)}" here: check the name with \`ip link\` in this network namespace`;
}

const ROOT_HINT =
  "BPF needs root, or the capabilities CAP_BPF and CAP_NET_ADMIN (CAP_PERFMON too for pointer reads); " +
  "in a container grant those to the collector";

function hintFor(
  op: string,
  errno: number,
  target: string,
  message: string,
  verifier: { program: string | null } | null,
): string {
  if (verifier) {
    return `the verifier rejected program '${verifier.program ?? "?"}': its log tail names the instruction and the reason`;
  }
  if (message.includes("not on a BPF filesystem")) {
    return "pin under a bpffs mount (mount -t bpf bpf /sys/fs/bpf); pin from the root namespace, not inside `ip netns exec`";
  }
  const attach = op === "if_nametoindex" || op.startsWith("bpf_link_create") || op.startsWith("bpf_tc_");
  switch (errno) {
    case E.EPERM:
    case E.EACCES:
      return ROOT_HINT;
    case E.ENODEV:
    case E.ENXIO:
      if (attach) return noInterface(target);
      break;
    case E.ENOENT:
      if (attach) return noInterface(target);
      if (op === "bpf_obj_get") {
        return "nothing is pinned at that path: pins live in the root namespace's /sys/fs/bpf (not mounted inside `ip netns exec`)";
      }
      if (op === "bpf_map_update_elem" || op === "bpf_map_update_batch") {
        return "the key does not exist and the update asked for flags 'exist'";
      }
      if (op === "rodata" || op.startsWith("bpf_object__find_") || op === "bpf_map__set_max_entries") {
        return "check the name against the object's source";
      }
      if (op === "bpf_object__open_file") return "check the path of the .bpf.o file (is the BPF build done?)";
      break;
    case E.E2BIG:
    case E.ENOSPC:
      if (op.startsWith("bpf_map_update")) {
        return "the map is full (max_entries): raise it with BpfObject.open(..., { maxEntries }) or delete entries; an LRU map evicts instead";
      }
      break;
    case E.EEXIST:
      if (op.startsWith("bpf_map_update")) return "the key exists and the update asked for flags 'noexist'";
      if (op === "bpf_obj_pin") return "something is already pinned at that path: unpin it first";
      break;
    case E.EBUSY:
      if (op.startsWith("bpf_link_create")) {
        return `another program is attached there: detach it first (for XDP: ip link set dev ${ifnameOf(target)} xdp off)`;
      }
      if (op === "bpf_object__close") return "await every pending testRunAsync() before close()";
      break;
    case E.EOPNOTSUPP:
      if (op.startsWith("bpf_link_create")) return "the driver has no native XDP: attach in mode 'generic'";
      break;
    case E.EBADF:
      return "the object or map was closed; open it again";
    case E.EINVAL:
      if (op.startsWith("bpf_link_create")) {
        return "the kernel refused the attachment: check the program type (xdp / tc) and, for TCX, a kernel >= 6.6 (attachTc api 'netlink' otherwise)";
      }
      if (op.includes("batch")) return "this map type may not support that batch operation (arrays cannot be deleted from)";
      break;
    case E.ERANGE:
      return "the value does not fit the variable's size";
  }
  return "libbpf's own messages are in .libbpfLog";
}
