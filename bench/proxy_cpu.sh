#!/usr/bin/env bash
# Splits a running proxy's CPU per statement into user and system time, and counts its
# context switches per statement, over one pgbench -S run.
# usage: bench/proxy_cpu.sh PID URL PASSWORD [CLIENTS] [SECONDS]
set -euo pipefail
pid=$1 url=$2 password=$3 clients=${4:-8} seconds=${5:-6}
ticks() { awk '{print $14, $15}' "/proc/$pid/stat"; }
switches() { awk -v k="$1" '$1 == k":" {s += $2} END {print s}' /proc/"$pid"/task/*/status; }
read -r u0 s0 < <(ticks); v0=$(switches voluntary_ctxt_switches); n0=$(switches nonvoluntary_ctxt_switches)
out=$(PGPASSWORD=$password pgbench -n -S -M prepared -c "$clients" -j "$clients" -T "$seconds" "$url" 2>&1)
read -r u1 s1 < <(ticks); v1=$(switches voluntary_ctxt_switches); n1=$(switches nonvoluntary_ctxt_switches)
n=$(echo "$out" | awk '/actually processed/ {split($6, a, "/"); print a[1]}')
hz=$(getconf CLK_TCK)
awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v v=$((v1 - v0)) -v nv=$((n1 - n0)) -v n="$n" -v hz="$hz" \
  'BEGIN { printf "statements %d: user %.2f µs, sys %.2f µs, voluntary %.3f, involuntary %.3f per statement\n",
           n, u / hz * 1e6 / n, s / hz * 1e6 / n, v / n, nv / n }'
