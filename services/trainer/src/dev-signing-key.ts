// The trainer's Ed25519 key at the configured paths (model.private_key_file / public_key_file), created
// there on first use for the development stack; a production key is provisioned as a secret instead.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { StoqConfig } from "../../../lib/src/config.js";
import { generateSigningKey, publicKeyPem, signingKeyFromPem, type SigningKey } from "../../../lib/src/model/signing.js";

export function ensureDevSigningKey(config: StoqConfig): SigningKey {
  const { private_key_file: privatePath, public_key_file: publicPath } = config.model;
  if (existsSync(privatePath)) {
    const key = signingKeyFromPem(readFileSync(privatePath, "utf8"));
    if (!existsSync(publicPath)) writeFileSync(publicPath, publicKeyPem(key.publicKey));
    return key;
  }
  mkdirSync(dirname(privatePath), { recursive: true });
  mkdirSync(dirname(publicPath), { recursive: true });
  const key = generateSigningKey();
  writeFileSync(privatePath, key.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  chmodSync(privatePath, 0o600);
  writeFileSync(publicPath, publicKeyPem(key.publicKey));
  return key;
}
