// stub
import type { CaseOutput, Tally } from "./conformance-score.js";
export function compareArkime(_c: string, _d: string, _f: string[], _o: CaseOutput, _t: Tally): void {}
