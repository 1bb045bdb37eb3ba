// Tests of keyed event-time windows: epoch-aligned starts, closing by watermark in order, late events
// refused and counted, the key bound closing the least recently touched window early.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KeyedWindows, type WindowSlot } from "../src/event-windows.js";

function windows(maxKeys = 100): { w: KeyedWindows<{ n: number }>; closed: string[]; onClose: (s: WindowSlot<{ n: number }>) => void } {
  const closed: string[] = [];
  const w = new KeyedWindows<{ n: number }>({ windowMs: 1000, latenessMs: 500, maxKeys, create: () => ({ n: 0 }) });
  return { w, closed, onClose: (s) => closed.push(`${s.key}@${s.start}:${s.state.n}`) };
}

test("windows start at multiples of their size and close once the watermark passes their end", () => {
  const { w, closed, onClose } = windows();
  w.slot("a", 1200, onClose)!.state.n++;
  w.slot("b", 1999, onClose)!.state.n++;
  w.slot("a", 2400, onClose)!.state.n++;
  w.close(onClose);
  assert.deepEqual(closed, []);
  w.slot("a", 2600, onClose)!.state.n++; // watermark 2100: the [1000, 2000) windows close
  w.close(onClose);
  assert.deepEqual(closed, ["a@1000:1", "b@1000:1"]);
  w.close(onClose, true);
  assert.deepEqual(closed, ["a@1000:1", "b@1000:1", "a@2000:2"]);
  assert.equal(w.startOf(-1), -1000);
});

test("an event for a closed window is refused and counted", () => {
  const { w, onClose } = windows();
  w.slot("a", 5000, onClose);
  assert.equal(w.slot("a", 3000, onClose), null);
  assert.equal(w.late, 1);
  assert.ok(w.slot("a", 4800, onClose) !== null, "within lateness");
});

test("past the key bound the least recently touched window closes early", () => {
  const { w, closed, onClose } = windows(2);
  w.slot("a", 0, onClose);
  w.slot("b", 0, onClose);
  w.slot("a", 1, onClose);
  w.slot("c", 2, onClose);
  assert.deepEqual(closed, ["b@0:0"]);
  assert.equal(w.evicted, 1);
});
