// The ModelSink of XDP mode: writes a verified model and its n-gram table into the kernel's inactive slot
// and flips the active index, following the swap protocol of bpf/stoq_model.h, and sets the enforcement mode.
import type { QuantModel } from "../../../lib/src/model/int8-mlp.js";
import {
  encodeControl,
  encodeModel,
  encodeNgramRows,
  MODE,
  MODEL_LAYOUT,
  MODEL_SLOT,
  ngramKeys,
  type Control,
  type Mode,
} from "../../../lib/src/model/layout.js";
import type { BpfMap } from "./bpf.js";
import type { ModelSink } from "./model-sync.js";

const ZERO = Buffer.alloc(4);

function slotKey(slot: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(slot);
  return b;
}

/** What the sink needs of a map: the kernel's, or a recorder in a test. */
export type MapWriter = Pick<BpfMap, "update">;
/** What the sink needs of the n-gram map: one batch write of a slot's rows. */
export type BatchWriter = Pick<BpfMap, "updateBatch">;

export class KernelModelSink implements ModelSink {
  readonly #models: MapWriter;
  readonly #ngrams: BatchWriter;
  readonly #controlMap: MapWriter;
  // The collector is the control map's only writer: this copy is what the kernel holds.
  #control: Control;
  #version = 0n;

  constructor(models: MapWriter, ngrams: BatchWriter, control: MapWriter, initial: Control) {
    this.#models = models;
    this.#ngrams = ngrams;
    this.#controlMap = control;
    this.#control = { ...initial };
  }

  get control(): Readonly<Control> {
    return this.#control;
  }

  /** Version of the model the active slot holds (0: none applied by this sink). */
  get version(): bigint {
    return this.#version;
  }

  /**
   * Writes the inactive slot in full with version 0, then its n-gram rows (one batch; none without a
   * table), then the slot again with the real version (a CPU still packing or summing the slot's previous
   * contents sees the version change and discards its work), then flips `active` with one write of the
   * control value. Packets keep the old model until the flip. Everything is encoded before the first
   * write, so a model that cannot be laid out leaves the kernel as it was.
   */
  apply(model: QuantModel): void {
    const bytes = encodeModel(model);
    const rows = encodeNgramRows(model);
    const inactive = this.#control.active === MODEL_SLOT.A ? MODEL_SLOT.B : MODEL_SLOT.A;
    const key = slotKey(inactive);
    const unversioned = Buffer.from(bytes);
    unversioned.fill(0, MODEL_LAYOUT.fields.version.offset, MODEL_LAYOUT.fields.version.offset + MODEL_LAYOUT.fields.version.size);
    this.#models.update(key, unversioned);
    if (rows.length > 0) this.#ngrams.updateBatch(ngramKeys(inactive, rows.length), rows);
    this.#models.update(key, bytes);
    this.#write({ ...this.#control, active: inactive });
    this.#version = model.version;
  }

  setMode(mode: Mode): void {
    if (this.#control.mode !== MODE[mode]) this.#write({ ...this.#control, mode: MODE[mode] });
  }

  #write(c: Control): void {
    this.#controlMap.update(ZERO, encodeControl(c));
    this.#control = c;
  }
}
