// A small typed schema language for the STOQ configuration (lib/src/config.ts): each spec parses one
// value, infers its TypeScript type, and reports errors that name the key path, the value and what is
// allowed. Parsing collects every error instead of stopping at the first.
import { inspect } from "node:util";

export interface Context {
  readonly errors: string[];
  /** Directory of the config file; relative paths are resolved against it. */
  readonly baseDir: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface Spec<T> {
  /** What is allowed, for error messages and docs, e.g. `an integer 1 <= x <= 65535`. */
  readonly allowed: string;
  /** The default, written as it would be in the YAML file; undefined: the key is required. */
  readonly defaultRaw?: unknown;
  parse(raw: unknown, path: string, ctx: Context): T;
}

export type Infer<S> = S extends Spec<infer T> ? T : never;

/** A value failed its spec; parse functions return this placeholder after recording the error. */
const INVALID = undefined as never;

export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  return inspect(value, { depth: 2, breakLength: Infinity, maxStringLength: 80 });
}

function fail(ctx: Context, path: string, raw: unknown, problem: string, allowed: string): never {
  ctx.errors.push(`${path} = ${show(raw)} ${problem}: allowed ${allowed}`);
  return INVALID;
}

/** Copies a spec with a default; the default is parsed (and so validated) like a value from the file. */
export function withDefault<T>(spec: Spec<T>, defaultRaw: unknown): Spec<T> {
  return { allowed: spec.allowed, defaultRaw, parse: (raw, path, ctx) => spec.parse(raw, path, ctx) };
}

export function bool(): Spec<boolean> {
  const allowed = "true or false";
  return {
    allowed,
    parse: (raw, path, ctx) => (typeof raw === "boolean" ? raw : fail(ctx, path, raw, "is not a boolean", allowed)),
  };
}

interface Range {
  gt?: number;
  ge?: number;
  lt?: number;
  le?: number;
}

function rangeText(r: Range): string {
  const lo = r.gt !== undefined ? `${r.gt} < ` : r.ge !== undefined ? `${r.ge} <= ` : "";
  const hi = r.lt !== undefined ? ` < ${r.lt}` : r.le !== undefined ? ` <= ${r.le}` : "";
  return `${lo}x${hi}`;
}

function inRange(x: number, r: Range): boolean {
  return (
    (r.gt === undefined || x > r.gt) &&
    (r.ge === undefined || x >= r.ge) &&
    (r.lt === undefined || x < r.lt) &&
    (r.le === undefined || x <= r.le)
  );
}

export function num(range: Range): Spec<number> {
  const allowed = rangeText(range);
  return {
    allowed: `a number ${allowed}`,
    parse(raw, path, ctx) {
      if (typeof raw !== "number" || !Number.isFinite(raw)) return fail(ctx, path, raw, "is not a number", `a number ${allowed}`);
      return inRange(raw, range) ? raw : fail(ctx, path, raw, "is out of range", allowed);
    },
  };
}

export function int(range: Range): Spec<number> {
  const allowed = rangeText(range);
  return {
    allowed: `an integer ${allowed}`,
    parse(raw, path, ctx) {
      if (typeof raw !== "number" || !Number.isSafeInteger(raw)) return fail(ctx, path, raw, "is not an integer", `an integer ${allowed}`);
      return inRange(raw, range) ? raw : fail(ctx, path, raw, "is out of range", allowed);
    },
  };
}

/** A string matching `pattern`; `allowed` says in words what that is. */
export function str(allowed = "a non-empty string", pattern = /./): Spec<string> {
  return {
    allowed,
    parse(raw, path, ctx) {
      if (typeof raw !== "string") return fail(ctx, path, raw, "is not a string", allowed);
      return pattern.test(raw) ? raw : fail(ctx, path, raw, "is not allowed", allowed);
    },
  };
}

export function oneOf<const V extends string>(values: readonly V[]): Spec<V> {
  const allowed = `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
  return {
    allowed,
    parse: (raw, path, ctx) =>
      (values as readonly unknown[]).includes(raw) ? (raw as V) : fail(ctx, path, raw, "is not allowed", allowed),
  };
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Formats milliseconds the way the config writes them ("24h", "300s", "1500ms"). */
export function formatDuration(ms: number): string {
  for (const [unit, f] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms % f === 0 && !(unit === "d" && ms / f === 1)) return `${ms / f}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration written as a positive integer with a unit (ms, s, m, h, d), e.g. "300s"; parsed to milliseconds. */
export function duration(range: { minMs: number; maxMs: number }): Spec<number> {
  const allowed = `a duration ${formatDuration(range.minMs)} <= x <= ${formatDuration(range.maxMs)}, written as an integer with a unit ms, s, m, h or d (e.g. "300s")`;
  return {
    allowed,
    parse(raw, path, ctx) {
      const m = typeof raw === "string" ? /^(\d+)(ms|s|m|h|d)$/.exec(raw.trim()) : null;
      const unit = m?.[2] === undefined ? undefined : UNIT_MS[m[2]];
      if (m?.[1] === undefined || unit === undefined) return fail(ctx, path, raw, "is not a duration", allowed);
      const ms = Number(m[1]) * unit;
      return ms >= range.minMs && ms <= range.maxMs ? ms : fail(ctx, path, raw, "is out of range", allowed);
    },
  };
}

export function nullable<T>(spec: Spec<T>): Spec<T | null> {
  return {
    allowed: `null or ${spec.allowed}`,
    parse: (raw, path, ctx) => (raw === null ? null : spec.parse(raw, path, ctx)),
  };
}

export function list<T>(item: Spec<T>, opts: { minItems: number; maxItems: number }): Spec<readonly T[]> {
  const allowed = `a list of ${opts.minItems}..${opts.maxItems} items, each ${item.allowed}`;
  return {
    allowed,
    parse(raw, path, ctx) {
      if (!Array.isArray(raw)) return fail(ctx, path, raw, "is not a list", allowed);
      if (raw.length < opts.minItems || raw.length > opts.maxItems) return fail(ctx, path, raw, "has the wrong length", allowed);
      return raw.map((v, i) => item.parse(v, `${path}[${i}]`, ctx));
    },
  };
}

/** Adds a check over the parsed value (a cross-field rule); `problem` and `allowed` describe a failure. */
export function refine<T>(spec: Spec<T>, ok: (v: T) => boolean, problem: string, allowed: string): Spec<T> {
  return {
    ...spec,
    parse(raw, path, ctx) {
      const before = ctx.errors.length;
      const v = spec.parse(raw, path, ctx);
      if (ctx.errors.length === before && !ok(v)) return fail(ctx, path, raw, problem, allowed);
      return v;
    },
  };
}

/** Turns a parsed value into another (e.g. reads a secret file); may record errors in ctx. */
export function map<A, B>(spec: Spec<A>, f: (v: A, path: string, ctx: Context) => B): Spec<B> {
  return {
    allowed: spec.allowed,
    ...(spec.defaultRaw === undefined ? {} : { defaultRaw: spec.defaultRaw }),
    parse(raw, path, ctx) {
      const before = ctx.errors.length;
      const v = spec.parse(raw, path, ctx);
      return ctx.errors.length === before ? f(v, path, ctx) : INVALID;
    },
  };
}

type Fields = Record<string, Spec<unknown>>;
export type SectionOf<F extends Fields> = { readonly [K in keyof F]: Infer<F[K]> };

/** Edit distance, to suggest the nearest known key for a misspelt one. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

export function nearest(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  const typed = key.toLowerCase();
  for (const k of known) {
    // A key that contains what was typed (threshold -> threat_threshold) is nearer than any edit distance says.
    const contains = typed.length >= 3 && (k.includes(typed) || typed.includes(k));
    const d = contains ? 0.5 : distance(typed, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

/** A mapping with exactly these keys; a missing key takes its default, an unknown key is an error. */
export function section<F extends Fields>(fields: F, defaultRaw: unknown = {}): Spec<SectionOf<F>> {
  const keys = Object.keys(fields);
  const allowed = `a mapping with keys ${keys.join(", ")}`;
  return {
    allowed,
    defaultRaw,
    parse(raw, path, ctx) {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return fail(ctx, path, raw, "is not a mapping", allowed);
      const obj = raw as Record<string, unknown>;
      for (const k of Object.keys(obj)) {
        if (!(k in fields)) {
          ctx.errors.push(`${path}.${k} is not a known key: did you mean ${nearest(k, keys)}? allowed keys: ${keys.join(", ")}`);
        }
      }
      const out: Record<string, unknown> = {};
      for (const [k, spec] of Object.entries(fields)) {
        const p = `${path}.${k}`;
        if (k in obj) out[k] = spec.parse(obj[k], p, ctx);
        else if (spec.defaultRaw !== undefined) out[k] = spec.parse(spec.defaultRaw, p, ctx);
        else ctx.errors.push(`${p} is missing: allowed ${spec.allowed}`);
      }
      return out as SectionOf<F>;
    },
  };
}
