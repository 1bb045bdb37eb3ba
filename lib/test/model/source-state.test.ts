import assert from "node:assert/strict";
import { test } from "node:test";
import { LC } from "../../src/model/feature-tables.js";
import { SourceState, factFeatures, type QueryObservation } from "../../src/model/source-state.js";

const S = 1_000_000_000n;
const q = (nowNs: bigint, over: Partial<QueryObservation> = {}): QueryObservation => ({
  nowNs,
  hash: 0,
  qtype: 1,
  dnsLen: 40,
  subLen: 0,
  qid: 7,
  ...over,
});

test("a fresh source reads as zeros", () => {
  assert.deepEqual(Array.from(new SourceState().features()), [0, 0, 0, 0, 0, 0, 0]);
});

test("query rate: current window, previous window, and a gap of two windows", () => {
  const s = new SourceState();
  const t0 = 10n * S;
  for (let i = 0; i < 5; i++) s.onQuery(q(t0 + BigInt(i)));
  assert.equal(s.features()[0], 5);
  s.onQuery(q(t0 + S + 1n)); // next window: prev = 5, cur = 1
  assert.equal(s.features()[0], 5);
  s.onQuery(q(t0 + 4n * S)); // gap: prev = 0, cur = 1
  assert.equal(s.features()[0], 1);
});

test("distinct names: bitmap bits from the top six hash bits, linear-counting table", () => {
  const s = new SourceState();
  for (let i = 0; i < 10; i++) s.onQuery(q(S, { hash: (i << 26) >>> 0 }));
  s.onQuery(q(S, { hash: (3 << 26) >>> 0 }));
  assert.equal(s.features()[1], LC[10]);
  assert.equal(LC[10], 11);
  assert.equal(LC[64], 311);
});

test("average query size: first sample, then EWMA 1/8 with floor shifts", () => {
  const s = new SourceState();
  s.onQuery(q(S, { dnsLen: 40 }));
  assert.equal(s.features()[3], 40);
  s.onQuery(q(S, { dnsLen: 120 })); // 640 + ((1920 - 640) >> 3) = 800 -> 50
  assert.equal(s.avgQsizeQ4, 800);
  assert.equal(s.features()[3], 50);
  s.onQuery(q(S, { dnsLen: 0 })); // 800 + floor(-800 / 8) = 700
  assert.equal(s.avgQsizeQ4, 700);
  s.onQuery(q(S, { dnsLen: 43 })); // 700 + floor((688 - 700) / 8) = 700 - 2 = 698 (floor, not truncation)
  assert.equal(s.avgQsizeQ4, 698);
});

test("ratios: tunnel qtypes and long names, halved at 256", () => {
  const s = new SourceState();
  for (let i = 0; i < 255; i++) s.onQuery(q(S, { qtype: i % 3 === 0 ? 16 : 1, subLen: i % 5 === 0 ? 32 : 31 }));
  // 85 TXT of 255, 51 long of 255
  assert.equal(s.features()[5], Math.floor((85 * 257) / 256));
  assert.equal(s.features()[6], Math.floor((51 * 257) / 256));
  s.onQuery(q(S, { qtype: 1 })); // total 256 -> halved: 128, 42, 25
  assert.deepEqual([s.qTotal, s.qTunnel, s.qLong], [128, 42, 25]);
});

test("NXDOMAIN ratio and response time matched by id", () => {
  const s = new SourceState();
  s.onQuery(q(S, { qid: 99 }));
  s.onResponse({ nowNs: S + 2048n * 10n, qid: 99, rcode: 3 });
  assert.equal(s.features()[4], 20);
  s.onResponse({ nowNs: S + 5n * S, qid: 99, rcode: 0 }); // already matched: no new sample
  assert.equal(s.features()[4], 20);
  assert.equal(s.features()[2], 128);
  s.onQuery(q(2n * S, { qid: 5 }));
  s.onResponse({ nowNs: 2n * S + 1024n * 100n, qid: 6, rcode: 0 }); // wrong id
  assert.equal(s.features()[4], 20);
  s.onResponse({ nowNs: 2n * S + 1024n * 100n, qid: 5, rcode: 0 }); // 20 + ((100 - 20) >> 3) = 30
  assert.equal(s.features()[4], 30);
  assert.equal(s.features()[2], Math.floor((1 * 16384) / 256));
});

test("facts: absent is zeros, present saturates", () => {
  assert.deepEqual(Array.from(factFeatures(null)), [0, 0, 0]);
  assert.deepEqual(Array.from(factFeatures({ certAgeHours: 5e9, chainLen: 40 })), [1, 1 << 20, 15]);
  assert.deepEqual(Array.from(factFeatures({ certAgeHours: 12, chainLen: 3 })), [1, 12, 3]);
});
