// The registered domain that keys DNS records and per-domain detector state.
import { test } from "node:test";
import assert from "node:assert/strict";
import { registeredDomain } from "../src/registered-domain.js";

test("registered domain by the public suffix list", () => {
  assert.equal(registeredDomain("www.example.co.uk"), "example.co.uk");
  assert.equal(registeredDomain("a.b.c.example.com"), "example.com");
  assert.equal(registeredDomain("localhost"), "localhost");
  assert.equal(registeredDomain(""), "");
});

test("a tunnel payload label the suffix list refuses still yields the tunnel's registered domain", () => {
  // dns2tcp-style base64 payloads carry "+" and "/", which are not hostname characters.
  assert.equal(registeredDomain("aGVsbG8+/d29ybGQ=.t.hidemyself.org"), "hidemyself.org");
  assert.equal(registeredDomain("a+b.c/d.example.co.uk"), "example.co.uk");
  assert.equal(registeredDomain("a+b"), "a+b");
});
