// The closed catalogue of STOQ error codes and the base error every package throws; `canRetry` tells a
// caller whether trying again may help (never for a programmer or input error).
export const ERROR_CODES = {
  CONFIG_INVALID: { canRetry: false },
  CONFIG_UNREADABLE: { canRetry: false },
  SCHEMA_UNKNOWN: { canRetry: false },
  RECORD_UNDECODABLE: { canRetry: false },
  RECORD_INVALID: { canRetry: false },
  KAFKA_UNAVAILABLE: { canRetry: true },
  KAFKA_PRODUCE_FAILED: { canRetry: true },
  KAFKA_TRANSACTION_FAILED: { canRetry: true },
  KAFKA_TRANSACTION_FATAL: { canRetry: false },
  KAFKA_RECORD_REJECTED: { canRetry: false },
  KAFKA_ADMIN_FAILED: { canRetry: false },
  KAFKA_CLOSED: { canRetry: false },
  STACK_START_FAILED: { canRetry: true },
  MODEL_REJECTED: { canRetry: false },
  BPF_FAILED: { canRetry: false },
  PACKET_MALFORMED: { canRetry: false },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class StoqError extends Error {
  readonly code: ErrorCode;
  readonly canRetry: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoqError";
    this.code = code;
    this.canRetry = ERROR_CODES[code].canRetry;
  }
}

export function isStoqError(e: unknown, code?: ErrorCode): e is StoqError {
  return e instanceof StoqError && (code === undefined || e.code === code);
}
