// Ed25519 signing and verification of model updates (node:crypto): the trainer signs the canonical
// payload of a ModelUpdate (lib/src/avro.ts modelUpdateSigningPayload), the collector verifies it.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { encode, modelUpdateSigningPayload, openModelUpdate, type ModelUpdate } from "../avro.js";
import { StoqError } from "../errors.js";

export const SIGNATURE_BYTES = 64;

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
}

/** The raw 32-byte Ed25519 public key (the last 32 bytes of its SPKI DER). */
export function rawPublicKey(publicKey: KeyObject): Buffer {
  if (publicKey.asymmetricKeyType !== "ed25519") throw new StoqError("MODEL_REJECTED", "the signing key is not an Ed25519 key");
  const der = publicKey.export({ type: "spki", format: "der" });
  return der.subarray(der.length - 32);
}

/** Hex SHA-256 of the raw public key, first 16 digits (the ModelUpdate signing_key_id). */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash("sha256").update(rawPublicKey(publicKey)).digest("hex").slice(0, 16);
}

export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

export function signingKeyFromPem(privatePem: string): SigningKey {
  const privateKey = createPrivateKey(privatePem);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyIdOf(publicKey) };
}

export function publicKeyFromPem(pem: string): KeyObject {
  const key = createPublicKey(pem);
  rawPublicKey(key);
  return key;
}

export function publicKeyPem(publicKey: KeyObject): string {
  return publicKey.export({ type: "spki", format: "pem" }).toString();
}

export function signBytes(payload: Uint8Array, key: SigningKey): Buffer {
  return sign(null, payload, key.privateKey);
}

export function verifyBytes(payload: Uint8Array, signature: Uint8Array, publicKey: KeyObject): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  return verify(null, payload, publicKey, signature);
}

/** The message to publish: the update encoded with its Ed25519 signature over the canonical payload. */
export function signModelUpdate(update: Omit<ModelUpdate, "signature" | "signing_key_id">, key: SigningKey): Buffer {
  const unsigned = { ...update, signing_key_id: key.keyId };
  const signature = signBytes(modelUpdateSigningPayload(unsigned), key);
  return encode("ModelUpdate", { ...unsigned, signature });
}

/**
 * Decodes and verifies a published update against the trusted keys (by key id). Throws MODEL_REJECTED
 * naming why: unknown key, bad signature, or bytes that are not a ModelUpdate.
 */
export function verifyModelUpdate(message: Buffer, trusted: readonly KeyObject[]): ModelUpdate {
  let opened: { update: ModelUpdate; payload: Buffer };
  try {
    opened = openModelUpdate(message);
  } catch (cause) {
    throw new StoqError("MODEL_REJECTED", "model update does not decode as a ModelUpdate", { cause });
  }
  const key = trusted.find((k) => keyIdOf(k) === opened.update.signing_key_id);
  if (key === undefined) {
    throw new StoqError("MODEL_REJECTED", `model update signed by unknown key ${opened.update.signing_key_id}: add its public key to the trusted keys`);
  }
  if (!verifyBytes(opened.payload, opened.update.signature, key)) {
    throw new StoqError("MODEL_REJECTED", `model update ${opened.update.model_name} v${opened.update.version} has a bad signature`);
  }
  return opened.update;
}
