// Binary-classifier metrics shared by the trainer's validation and the detector's evaluation: ROC AUC
// (ties counted half), TPR at a fixed FPR, and confusion counts at a threshold.

/** ROC AUC by the rank-sum (Mann-Whitney) statistic with average ranks for ties; NaN without both classes. */
export function rocAuc(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  if (pos.length === 0 || neg.length === 0) return NaN;
  const all: [number, number][] = [];
  for (let i = 0; i < pos.length; i++) all.push([pos[i]!, 1]);
  for (let i = 0; i < neg.length; i++) all.push([neg[i]!, 0]);
  all.sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]![0] === all[i]![0]) j++;
    const avg = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k]![1] === 1) rankSum += avg;
    i = j;
  }
  return (rankSum - (pos.length * (pos.length + 1)) / 2) / (pos.length * neg.length);
}

/**
 * The TPR of the best threshold whose FPR is at most `fpr`: a score counts as positive when it is above
 * `above`, the (floor(fpr · n) + 1)-th highest negative score (-Infinity when fpr · n >= n). NaN without
 * positives or negatives.
 */
export function tprAtFpr(pos: ArrayLike<number>, neg: ArrayLike<number>, fpr: number): { tpr: number; above: number } {
  const sortedNeg = Array.from(neg).sort((a, b) => b - a);
  const above = sortedNeg[Math.floor(fpr * sortedNeg.length)] ?? -Infinity;
  let tp = 0;
  for (let i = 0; i < pos.length; i++) if (pos[i]! > above) tp++;
  // Without negatives there is no FPR to hold: NaN, not a perfect score.
  return { tpr: pos.length === 0 || sortedNeg.length === 0 ? NaN : tp / pos.length, above };
}

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export function confusionAt(pos: ArrayLike<number>, neg: ArrayLike<number>, threshold: number): Confusion {
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < pos.length; i++) if (pos[i]! >= threshold) tp++;
  for (let i = 0; i < neg.length; i++) if (neg[i]! >= threshold) fp++;
  return { tp, fp, fn: pos.length - tp, tn: neg.length - fp };
}

export function precision(c: Confusion): number {
  return c.tp + c.fp === 0 ? NaN : c.tp / (c.tp + c.fp);
}
export function recall(c: Confusion): number {
  return c.tp + c.fn === 0 ? NaN : c.tp / (c.tp + c.fn);
}
export function falsePositiveRate(c: Confusion): number {
  return c.fp + c.tn === 0 ? NaN : c.fp / (c.fp + c.tn);
}
export function accuracy(c: Confusion): number {
  const n = c.tp + c.fp + c.tn + c.fn;
  return n === 0 ? NaN : (c.tp + c.tn) / n;
}
