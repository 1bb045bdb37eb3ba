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
    // Both cores are shared on the dev machines: one WASM thread keeps a training run polite.
    if (!(await tf.setBackend("wasm"))) throw new Error("TensorFlow.js WASM backend failed to start");
    await tf.ready();
    return tf;
  })();
  return ready;
}
