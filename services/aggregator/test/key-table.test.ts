import { test } from "node:test";
import assert from "node:assert/strict";
import { hashString32 } from "../../../lib/src/hash.js";
import { KeyTable, OVERFLOW } from "../src/key-table.js";

test("interning gives stable dense ids and returns the strings, Latin-1 and wide alike", () => {
  const t = new KeyTable(100);
  const keys = ["example.com", "a.example.com", "", "\u4e2d\u6587.cn", "caf\u00e9.fr", "xn--bcher-kva.de"];
  const ids = keys.map((k) => t.intern(k));
  assert.deepEqual(ids, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(keys.map((k) => t.intern(k)), ids);
  assert.deepEqual(ids.map((id) => t.keyOf(id)), keys);
  assert.equal(t.find("missing"), -1);
  assert.equal(t.find("\u4e2d\u6587.cn"), 3);
  assert.equal(t.size, keys.length);
});

test("a full table returns OVERFLOW for new keys but still finds old ones", () => {
  const t = new KeyTable(3);
  for (const k of ["a", "b", "c"]) assert.notEqual(t.intern(k), OVERFLOW);
  assert.equal(t.intern("d"), OVERFLOW);
  assert.equal(t.intern("b"), 1);
});

test("released keys free their ids; the index stays consistent under heavy churn", () => {
  const t = new KeyTable(5000);
  const live = new Map<string, number>();
  let seed = 42;
  const rnd = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let step = 0; step < 60_000; step++) {
    const r = Math.floor(rnd() * 8000);
    const k = r % 3 === 0 ? `\u4e2d${r}.\u6587` : `key-${r}.example`;
    const id = live.get(k);
    if (id === undefined) {
      const nid = t.intern(k);
      if (nid === OVERFLOW) {
        assert.equal(t.size, 5000);
        continue;
      }
      t.retain(nid);
      live.set(k, nid);
    } else if (rnd() < 0.5) {
      t.release(id);
      live.delete(k);
      assert.equal(t.find(k), -1);
    } else {
      assert.equal(t.intern(k), id);
    }
  }
  assert.equal(t.size, live.size);
  for (const [k, id] of live) {
    assert.equal(t.find(k), id);
    assert.equal(t.keyOf(id), k);
  }
});

test("a key retained twice survives one release", () => {
  const t = new KeyTable(10);
  const id = t.intern("x.org");
  t.retain(id);
  t.retain(id);
  t.release(id);
  assert.equal(t.find("x.org"), id);
  t.release(id);
  assert.equal(t.find("x.org"), -1);
  assert.equal(t.size, 0);
});

test("the arena is compacted after many releases without losing keys", () => {
  const t = new KeyTable(2000);
  for (let round = 0; round < 20; round++) {
    const ids = [];
    for (let i = 0; i < 1500; i++) {
      const id = t.intern(`r${round}-k${i}.some-long-domain-name.example`);
      t.retain(id);
      ids.push(id);
    }
    for (let i = 0; i < 1500; i += 1) if (i % 10 !== 0 || round < 19) t.release(ids[i] ?? -1);
  }
  assert.equal(t.size, 150);
  for (let i = 0; i < 1500; i += 10) assert.notEqual(t.find(`r19-k${i}.some-long-domain-name.example`), -1);
  assert.ok(t.byteSize < 1_000_000, `table holds ${t.byteSize} bytes`);
});

test("a link holds its parent: the parent id stays live and names its key until the linking entry is freed", () => {
  const domains = new KeyTable(100);
  const names = new KeyTable(100, [domains]);
  const q = names.intern("www.example.com");
  const qOff = names.lastEntry;
  assert.equal(names.linkId(qOff, 0), -1, "a new entry is unlinked");
  const d = domains.intern("example.com");
  names.setLink(qOff, 0, d, domains.lastHash, "example.com".length);
  assert.throws(() => names.setLink(qOff, 0, d, domains.lastHash, 11), RangeError, "a link is set once");
  names.retain(q);
  domains.retain(d);
  // The windows holding the domain go: the link still holds it, so the id cannot be reused.
  domains.release(d);
  assert.equal(domains.find("example.com"), d);
  for (let i = 0; i < 50; i++) assert.notEqual(domains.intern(`other-${i}.org`), d);
  assert.equal(names.linkId(names.entryOf(q), 0), d);
  assert.equal(domains.keyOf(names.linkId(names.entryOf(q), 0)), "example.com");
  assert.equal(names.linkLength(names.entryOf(q), 0), 11);
  assert.equal(names.linkHash(names.entryOf(q), 0), hashString32("example.com"));
  // Freeing the name releases the domain, which had no other reference.
  names.release(q);
  assert.equal(names.find("www.example.com"), -1);
  assert.equal(domains.find("example.com"), -1);
});

test("links survive arena compaction and churn of both tables; every parent is freed with its last child", () => {
  const addrs = new KeyTable(4000);
  const flows = new KeyTable(3000, [addrs, addrs]);
  const live = new Map<string, { id: number; src: string; dst: string }>();
  let seed = 7;
  const rnd = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let step = 0; step < 40_000; step++) {
    const r = Math.floor(rnd() * 6000);
    const key = `1:flow-${r}-with-a-long-community-id`;
    const have = live.get(key);
    if (have !== undefined && rnd() < 0.5) {
      flows.release(have.id);
      live.delete(key);
      continue;
    }
    const id = flows.intern(key);
    if (id < 0) continue;
    const off = flows.lastEntry;
    if (have === undefined) {
      const src = `10.0.${r % 300}.1`;
      const dst = `172.16.${r % 200}.2`;
      const s = addrs.intern(src);
      const hs = addrs.lastHash;
      flows.setLink(off, 0, s, hs, src.length);
      const t = addrs.intern(dst);
      flows.setLink(off, 1, t, addrs.lastHash, dst.length);
      flows.retain(id);
      live.set(key, { id, src, dst });
    }
  }
  for (const [key, { id, src, dst }] of live) {
    const off = flows.entryOf(id);
    assert.equal(flows.find(key), id);
    assert.equal(addrs.keyOf(flows.linkId(off, 0)), src);
    assert.equal(addrs.keyOf(flows.linkId(off, 1)), dst);
  }
  for (const { id } of live.values()) flows.release(id);
  assert.equal(flows.size, 0);
  assert.equal(addrs.size, 0, "no address outlives the flows linking it");
});
