// Starts TensorFlow.js on its WebAssembly backend in Node, loading the .wasm binaries from the installed
// package (never from the network), once per process.
import { createRequire } from "node:module";
import { dirname } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

let ready: Promise<typeof tf> | null = null;

export function tfWasm(): Promise<typeof tf> {
  ready ??= (async () => {
    const require = createRequire(import.meta.url);
    const dist = dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"));
    setWasmPaths(`${dist}/`);
    // Node gets the SIMD build on one thread (the threaded build needs browser workers), which keeps a
    // training run polite on the shared cores.
    if (!(await tf.setBackend("wasm"))) throw new Error("TensorFlow.js WASM backend failed to start");
    await tf.ready();
    return tf;
  })();
  return ready;
}
