#!/usr/bin/env bash
# One-shot, idempotent set-up of everything STOQ needs on a Debian 12 machine (run as root): Debian
# packages, npm packages from the lockfile, the Kafka jars from Maven Central, then the native builds.
# Each step is skipped when a stamp or a cheap check says it is already done, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
stamps="$root/.stoq/setup"
mkdir -p "$stamps"

now() { date +%s.%N; }
t_all=$(now)
step() { printf '== setup: %s\n' "$*"; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
sha() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# ---- Debian packages --------------------------------------------------------------------------------
# kernel build: clang llvm libbpf-dev bpftool linux-libc-dev gcc-multilib (asm/types.h for -target bpf)
# libelf-dev zlib1g-dev pkg-config; stack: redis-server prometheus (+promtool); tests: tshark iproute2.
packages=(clang llvm libbpf-dev bpftool linux-libc-dev gcc-multilib libelf-dev zlib1g-dev pkg-config
          redis-server prometheus tshark iproute2 make g++ python3)
# Java and Maven come with the machine; install Debian's only where they are missing.
command -v java >/dev/null || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || packages+=(maven)

t=$(now)
mapfile -t missing < <(
  dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null | awk '$2 == "ii" { print $1 }' \
    | sort | comm -13 - <(printf '%s\n' "${packages[@]}" | sort))
if [ "${#missing[@]}" -eq 0 ]; then
  step "Debian packages: all ${#packages[@]} present ($(took "$t"))"
else
  step "Debian packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer "no" up front so the install never prompts.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  # The stack runs its own Redis and Prometheus under .stoq/; keep apt from starting the Debian services
  # (they would take ports 6379 and 9090) by refusing service starts for the length of the install.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  trap 'if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  own_policy=0
  # Under systemd the packages also enable their services for the next boot; the stack does not use them.
  if [ -d /run/systemd/system ]; then
    for svc in redis-server prometheus; do
      if printf '%s\n' "${missing[@]}" | grep -qx "$svc"; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
    done
  fi
  step "Debian packages: installed ${#missing[@]} in $(took "$t")"
fi

# ---- npm packages -----------------------------------------------------------------------------------
# Installed when package-lock.json changed since the last install here. A node_modules that already
# matches the lockfile (npm's own record of what it installed, node_modules/.package-lock.json) is
# accepted as is: `npm ci` would delete it first, under everyone else using it.
t=$(now)
lock_sha=$(sha package-lock.json)
if [ -d node_modules ] && [ "$(cat "$stamps/npm.sha256" 2>/dev/null)" = "$lock_sha" ]; then
  step "npm packages: lockfile unchanged since last install ($(took "$t"))"
elif [ -f node_modules/.package-lock.json ] && node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages;
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages;
    for (const [k, v] of Object.entries(want)) {
      if (k === "" || (v.optional && !(k in have))) continue;
      if (have[k]?.version !== v.version) { console.error(`npm packages: ${k} differs from the lockfile`); process.exit(1); }
    }'; then
  echo "$lock_sha" > "$stamps/npm.sha256"
  step "npm packages: node_modules already matches the lockfile ($(took "$t"))"
else
  step "npm packages: npm ci"
  flock /tmp/stoq-npm.lock npm ci --no-audit --no-fund
  echo "$lock_sha" > "$stamps/npm.sha256"
  step "npm packages: installed in $(took "$t")"
fi

# ---- Kafka jars -------------------------------------------------------------------------------------
t=$(now)
libs="$root/.stoq/kafka/libs"
pom_sha=$(sha deploy/stack/pom.xml)
if [ -d "$libs" ] && [ "$(cat "$stamps/kafka-libs.sha256" 2>/dev/null)" = "$pom_sha" ]; then
  step "Kafka jars: present for this pom ($(ls "$libs" | wc -l) jars, $(took "$t"))"
else
  step "Kafka jars: fetching with Maven (deploy/stack/pom.xml)"
  # Into a new directory, swapped in at the end, so a broker running from the old jars is not disturbed
  # and an interrupted fetch never leaves a half-filled libs/.
  rm -rf "$libs.new" "$libs.old"
  # Maven 3.8's quiet mode still prints colour resets; strip them so the output stays plain text.
  mvn -q -B -f deploy/stack/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs.new" \
    2>&1 | sed 's/\x1b\[[0-9;]*m//g'
  [ -d "$libs" ] && mv "$libs" "$libs.old"
  mv "$libs.new" "$libs"
  rm -rf "$libs.old"
  echo "$pom_sha" > "$stamps/kafka-libs.sha256"
  step "Kafka jars: $(ls "$libs" | wc -l) jars in $(took "$t")"
fi

# ---- native builds (kernel programs, Node addon) ------------------------------------------------------
if [ -f bpf/Makefile ]; then
  t=$(now)
  step "bpf: make -C bpf"
  make -s -C bpf
  step "bpf: built in $(took "$t")"
fi
t=$(now)
if node -e 'process.exit(require("./package.json").scripts?.["build:addon"] ? 0 : 1)'; then
  step "addon: npm run build:addon"
  npm run --silent build:addon
  step "addon: built in $(took "$t")"
fi

step "done in $(took "$t_all")"
