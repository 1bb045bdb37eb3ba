// `stoq trainer`: runs the continuous-learning trainer service.
import { parseArgs } from "node:util";
import { runService } from "../lib/src/service-runtime.js";
import { startTrainer } from "../services/trainer/src/index.js";

export const usage = `usage: stoq trainer [--port N]

Follows stoq.features.v1 and stoq.labels.v1; every machine_learning.continuous_learning.training_interval
it trains the int8 model (TensorFlow.js, WASM), validates it against the quality bar, signs it (Ed25519,
model.private_key_file) and publishes it to stoq.model-updates.v1.
  --port N  metrics port (default from config; 0 = any free port)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: "string" } } });
  return runService("trainer", startTrainer, values.port !== undefined ? { port: Number(values.port) } : {});
}
