// Loads the kernel programs for XDP mode (bpf/build/stoq.bpf.o): sizes the maps, sets rodata, writes the
// bigram table and the initial control value, attaches XDP ingress and TC egress to one interface, pins
// the maps for operators, and undoes all of it on close even when a step failed.
import { existsSync, mkdirSync, rmdirSync, unlinkSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bigramBytes } from "../../../lib/src/model/bigram.js";
import { encodeControl, MODE, MODEL_SLOT, type Control } from "../../../lib/src/model/layout.js";
import { BpfError, BpfObject, type BpfLink, type BpfMap, type TcApi, type XdpMode } from "./bpf.js";

export const STOQ_OBJECT = fileURLToPath(new URL("../../../bpf/build/stoq.bpf.o", import.meta.url));
export const XDP_PROGRAM = "stoq_xdp_ingress";
export const TC_PROGRAM = "stoq_tc_egress";

// The kernel default wakeup threshold (bpf/events.h); a small ring must wake its consumer sooner.
const WAKEUP_BYTES = 256 << 10;

export interface KernelLoadOptions {
  /** Interface to attach to; null loads the programs without attaching (test runs, the benchmark). */
  readonly interface: string | null;
  readonly xdpMode: XdpMode;
  readonly ringBufferBytes: number;
  /** Entries of each flow table (IPv4 and IPv6). */
  readonly flowsMax: number;
  readonly bigram: Int16Array;
  /** Directory on bpffs to pin the stoq_* maps under while running; null: no pins. */
  readonly pinDir: string | null;
  readonly objectPath?: string;
  /** Further max_entries overrides by map name (smaller tables in tests). */
  readonly maxEntries?: Readonly<Record<string, number>>;
  readonly tcApi?: TcApi;
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** The initial control value: no model yet (slot A is empty), never drop. */
export const INITIAL_CONTROL: Control = { active: MODEL_SLOT.A, mode: MODE.observe, shadow: 0 };

export class KernelDataPath {
  readonly obj: BpfObject;
  readonly interface: string | null;
  readonly #links: BpfLink[] = [];
  readonly #pins: string[] = [];
  /** Directories made for the pins, deepest first, removed on close. */
  readonly #dirsMade: string[] = [];
  #closed = false;
  #replacedPins = 0;

  private constructor(obj: BpfObject, iface: string | null) {
    this.obj = obj;
    this.interface = iface;
  }

  /** Loads, writes the tables, attaches and pins; on any failure undoes what was done and throws. */
  static load(o: KernelLoadOptions): KernelDataPath {
    const path = o.objectPath ?? STOQ_OBJECT;
    if (!existsSync(path)) {
      throw new BpfError(`${path} is missing`, {
        errno: 2,
        operation: "open",
        target: path,
        hint: "build the kernel programs with `make -C bpf` (npm run setup does it)",
        libbpfLog: "",
        verifierLog: null,
        program: null,
      });
    }
    const obj = BpfObject.open(path, {
      rodata: { stoq_wakeup_bytes: Math.min(WAKEUP_BYTES, o.ringBufferBytes >>> 2) },
      maxEntries: { stoq_events: o.ringBufferBytes, stoq_flows4: o.flowsMax, stoq_flows6: o.flowsMax, ...o.maxEntries },
    });
    const k = new KernelDataPath(obj, o.interface);
    try {
      obj.load();
      obj.map("stoq_bigrams").update(u32(0), bigramBytes(o.bigram));
      obj.map("stoq_control").update(u32(0), encodeControl(INITIAL_CONTROL));
      if (o.interface !== null) {
        k.#links.push(obj.program(XDP_PROGRAM).attachXdp(o.interface, o.xdpMode));
        k.#links.push(obj.program(TC_PROGRAM).attachTc(o.interface, "egress", { api: o.tcApi ?? "auto" }));
      }
      // After attaching: the interface is ours now, so pins left there by a collector that died are stale.
      if (o.pinDir !== null) k.#pinMaps(o.pinDir);
    } catch (e) {
      k.close();
      throw e;
    }
    return k;
  }

  map(name: string): BpfMap {
    return this.obj.map(name);
  }

  get links(): readonly string[] {
    return this.#links.map((l) => l.description);
  }

  get pins(): readonly string[] {
    return [...this.#pins];
  }

  /** Pins found at our paths (left by a collector that died) and replaced. */
  get replacedPins(): number {
    return this.#replacedPins;
  }

  #pinMaps(where: string): void {
    const dir = resolve(where);
    const first = mkdirSync(dir, { recursive: true });
    if (first !== undefined) {
      for (let d = dir; d.length >= first.length; d = dirname(d)) this.#dirsMade.push(d);
    }
    for (const name of this.obj.maps().filter((n) => n.startsWith("stoq_"))) {
      const path = `${dir}/${name}`;
      if (existsSync(path)) {
        unlinkSync(path);
        this.#replacedPins++;
      }
      this.obj.map(name).pin(path);
      this.#pins.push(path);
    }
  }

  /** Stops the programs from seeing more packets; the maps stay readable until close(). */
  detach(): void {
    const errors: unknown[] = [];
    for (const l of this.#links.splice(0)) {
      try {
        l.detach();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw errors.length === 1 ? errors[0] : new AggregateError(errors, "detaching the kernel programs failed");
  }

  /**
   * Detaches, unpins and frees everything. Every step is tried even when an earlier one fails; the
   * failures are thrown together at the end. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const errors: unknown[] = [];
    try {
      this.detach();
    } catch (e) {
      errors.push(e);
    }
    for (const path of this.#pins.splice(0)) {
      try {
        this.obj.map(path.slice(path.lastIndexOf("/") + 1)).unpin(path);
      } catch (e) {
        errors.push(e);
      }
    }
    for (const d of this.#dirsMade.splice(0)) {
      try {
        rmdirSync(d);
      } catch (e) {
        errors.push(e);
      }
    }
    try {
      this.obj.close();
    } catch (e) {
      errors.push(e);
    }
    if (errors.length > 0) throw errors.length === 1 ? errors[0] : new AggregateError(errors, "closing the kernel data path failed");
  }
}
