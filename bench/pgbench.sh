#!/usr/bin/env bash
# pgbench -S (select-only; WORKLOAD=tpcb for pgbench's default TPC-B-like script) through three
# targets side by side in one run:
#   direct PostgreSQL, pgbouncer (session mode), and Sluice.
# For each: TPS, average latency, the proxy's CPU µs per statement (from /proc), and ratios.
#
# usage: bench/pgbench.sh [build/sluice]
#   DURATION=10 REPEAT=3 CLIENTS="1 8 32" MODES="simple prepared" PIN=1 WORKERS=1 POLICY=1
#   (WORKERS: Sluice's worker threads; default 0, the product's default: one per core)
#   AUDIT="off batch fsync"   (one gateway per audit mode, side by side; default: fsync, the
#                              product's default)
# BATCH_INTERVAL=10ms sets audit.batch_interval for the `batch` gateway; AUDIT_TMPFS=1 puts
# its audit directory on /dev/shm (to tell the disk's share of the cost from the CPU's).
# TRACE=DIR counts each proxy's system calls with `perf trace -s` into DIR (slows it ~10x:
# read the counts, not the TPS).
# On stderr, per statement for each proxy: user and system CPU µs, context switches
# (voluntary: it blocked; involuntary: it was preempted), and CPU µs by thread.
# PROFILE=DIR records each Sluice run with `perf record -g` into DIR/<target>-<mode>-<clients>.data
# (read with `perf report -i FILE --no-children`); PROFILE_EVENT replaces its sampling
# (default "-F 1999"), e.g. PROFILE_EVENT="-e page-faults --call-graph dwarf" to find who
# faults.
# PROFILE_ALL=DIR instead records the whole machine (`perf record -a`, no call graphs) during
# every target's runs (with PROFILE also set, Sluice's runs get only PROFILE's recording), e.g.
# to see where the database's backends spend their time behind each proxy
# (`bench/perf_diff.py --comm postgres`).
# BASE=path/to/another/sluice adds a gateway `sluice-base` run from that binary, e.g. a
# build of the previous commit, for an A/B comparison in the same run; its audit mode is
# BASE_AUDIT (off, batch or fsync; default off), and its column "new/" is the TPS of the
# gateway with the same audit mode over its own.
# BASE_WORKERS sets the base gateway's worker count (default: WORKERS), e.g. BASE=build/sluice
# BASE_WORKERS=2 measures two workers against one with the same binary.
# BUSY_POLL=50 sets busy_poll_us for the Sluice gateways (default 0: off); BASE_BUSY_POLL
# for the base gateway (default: BUSY_POLL). BASE=build/sluice BASE_BUSY_POLL=0
# BUSY_POLL=50 measures busy polling against the same binary without it.
# On stderr, for every target: the machine's idle share, all processes' CPU per statement
# (the database's and pgbench's included), and the database's own CPU per statement.
# PIN=1 pins each proxy to CPU 1 and PostgreSQL and pgbench to CPU 0 (steadier figures on a
# 2-core machine). POLICY=1 loads the agent-baseline policy into Sluice (once it exists).
# STEADY=1 runs pgbench with per-second progress and prints on stderr, per statement over
# the run's steady middle (first and last second left out), the CPU of the database, the
# proxy, pgbench and the rest of the machine, and how often backends blocked or were
# preempted (bench/steady_split.py; copy it beside this script if you run a copy).
# FLOOR=build/relay_floor adds a target `floor`: a bare epoll relay that copies bytes and parses
# nothing (bench/relay_floor.cc), the floor of any proxy's cost on this machine.
# HOOKED=build/relay_hooked adds a target `hooked`: the same loop with Sluice's relay and hook
# pipeline in it (bench/relay_hooked.cc): what Sluice would cost over an I/O layer that lean.
# Benchmarks are not tests: nothing here asserts.
set -euo pipefail

SLUICE=$(readlink -f "${1:-build/sluice}")
DURATION=${DURATION:-10}
AUDIT=${AUDIT:-fsync}
REPEAT=${REPEAT:-3}
CLIENTS=${CLIENTS:-"1 8 32"}
MODES=${MODES:-"simple prepared"}
# Sluice's worker threads: 0 (the default) leaves it to the gateway, one per core, as shipped.
WORKERS=${WORKERS:-0}
BUSY_POLL=${BUSY_POLL:-0}
PIN=${PIN:-0}
SCALE=${SCALE:-10}
# select (pgbench -S: one SELECT per transaction, the proxy's worst case) or tpcb (pgbench's
# default script: BEGIN, three UPDATEs, a SELECT, an INSERT and END, 7 statements per
# transaction). CPU figures are per statement either way; TPS is transactions per second.
WORKLOAD=${WORKLOAD:-select}
case "$WORKLOAD" in
  select) workload_flag=(-S); per_tx=1 ;;
  tpcb) workload_flag=(); per_tx=7 ;;
  *) echo "pgbench.sh: WORKLOAD is select or tpcb, not $WORKLOAD" >&2; exit 2 ;;
esac
# Per-statement figures divide by TPS times this (the run's statements per transaction-second).
statement_seconds=$((DURATION * per_tx))
PGBIN=/usr/lib/postgresql/15/bin
here=$(dirname "$(readlink -f "$0")")

work=$(mktemp -d /tmp/sluice-bench-XXXXXX)
chown postgres "$work"
cleanup() {
  local status=$?
  if [ "$status" != 0 ]; then  # keep the gateways' logs for the post-mortem
    mkdir -p /tmp/sluice-bench-failed
    for d in "$work"/sluice-*; do [ -f "$d/sluice.log" ] && cp "$d/sluice.log" "/tmp/sluice-bench-failed/${d##*/}.log"; done
    echo "pgbench.sh: exit $status; gateway logs kept in /tmp/sluice-bench-failed" >&2
  fi
  for pid in "${sluice_pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  rm -rf /dev/shm/sluice-bench-audit-* 2>/dev/null || true
  [ -n "${bouncer_pid:-}" ] && kill "$bouncer_pid" 2>/dev/null || true
  for pid in "${relay_pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
declare -A sluice_ports sluice_pids sluice_tokens
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pin() { if [ "$PIN" = 1 ]; then echo "taskset -c $1"; fi; }
# A process's counters: "utime stime voluntary involuntary minflt" (CPU in clock ticks;
# context switches summed over its threads: voluntary, it blocked; involuntary, it was
# preempted; minor page faults: memory first touched, or given back and touched again).
# A thread may exit between listing and reading (the blocking pool's): that is not an error.
proc_counters() {
  local utime stime minflt
  read -r utime stime minflt < <(awk '{print $14, $15, $10}' "/proc/$1/stat")
  echo "$utime $stime" \
       "$( (cat /proc/"$1"/task/*/status 2>/dev/null || true) | awk '/^voluntary_ctxt/ {v += $2} /^nonvoluntary_ctxt/ {n += $2} END {print v, n}')" \
       "$minflt"
}
# "tid:ticks" (utime + stime) for every thread of a process.
# (A thread that exits between the listing and the read is skipped: with pipefail, its failed
# read would otherwise end the whole run, silently.)
thread_ticks() { for t in /proc/"$1"/task/*; do awk -v t="${t##*/}" '{ sub(/.*\) /, ""); print t ":" $12 + $13 }' "$t/stat" 2>/dev/null || true; done | tr '\n' ' '; }
tick_hz=$(getconf CLK_TCK)
# The whole machine's CPU time: "busy idle" in clock ticks (idle counts iowait too; steal,
# the hypervisor running someone else, counts as neither). A run that leaves cores idle is
# bound by waiting, not by CPU.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }
# The database's CPU time in clock ticks: the postmaster's own, its live children's (the
# backends pgbouncer keeps open), and that of its children that have exited (the backends of a
# run's connections through Sluice or direct, which the postmaster reaps).
postgres_ticks() {
  local pm; pm=$(head -1 "$work/data/postmaster.pid")
  { awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat"
    for c in $(pgrep -P "$pm"); do awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || true; done
  } | awk '{t += $1} END {print t}'
}

pg_port=$(free_port); bouncer_port=$(free_port); sluice_port=$(free_port)
echo "superpw" > "$work/pw"; chown postgres "$work/pw"
runuser -u postgres -- "$PGBIN/initdb" -D "$work/data" -U postgres -A scram-sha-256 \
  --pwfile="$work/pw" --no-sync >/dev/null
cat >> "$work/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$work'
max_connections = 200
shared_buffers = 256MB
fsync = off
synchronous_commit = off
CONF
$(pin 0) runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/data" -l "$work/pg.log" -w start >/dev/null
export PGPASSWORD=superpw
psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "create role bench login password 'benchpw'" \
  -c "create database bench owner bench"
PGPASSWORD=benchpw pgbench -q -i -s "$SCALE" -h 127.0.0.1 -p "$pg_port" -U bench bench >/dev/null 2>&1

# pgbouncer, session mode (it refuses to run as root).
cat > "$work/pgbouncer.ini" <<CONF
[databases]
bench = host=127.0.0.1 port=$pg_port dbname=bench user=bench password=benchpw
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir = $work
auth_type = scram-sha-256
auth_file = $work/userlist.txt
pool_mode = session
max_client_conn = 500
default_pool_size = 100
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
CONF
echo '"bench" "benchpw"' > "$work/userlist.txt"
chown postgres "$work/pgbouncer.ini" "$work/userlist.txt"
$(pin 1) runuser -u postgres -- pgbouncer "$work/pgbouncer.ini" >/dev/null 2>&1 &
sleep 1
bouncer_pid=$(cat "$work/pgbouncer.pid")

# The bare relays (FLOOR, HOOKED): each its own target, on its own port.
declare -A relay_ports relay_pids
for relay in floor hooked; do
  bin_var=${relay^^}
  [ -n "${!bin_var:-}" ] || continue
  relay_ports[$relay]=$(free_port)
  BENCH_PASSWORD=benchpw $(pin 1) "$(readlink -f "${!bin_var}")" "${relay_ports[$relay]}" "$pg_port" \
    > "$work/$relay.log" 2>&1 &
  relay_pids[$relay]=$!
  for _ in $(seq 50); do grep -q "listening" "$work/$relay.log" && break; sleep 0.1; done
done

# Sluice: one gateway per audit mode in AUDIT (off, batch, fsync), each with its own port,
# data_dir and token, so the modes are measured side by side in the same run.
policy=""
if [ "${POLICY:-0}" = 1 ]; then policy=$'rules:\n  - include: agent-baseline'; fi
export BENCH_PASSWORD=benchpw
gateways="$AUDIT${BASE:+ base}"
for audit in $gateways; do
  binary=$SLUICE
  busy_poll=$BUSY_POLL
  workers=$WORKERS
  case $audit in
    off) audit_cfg="audit: { enabled: false }" ;;
    base)
      case ${BASE_AUDIT:-off} in
        off) audit_cfg="audit: { enabled: false }" ;;
        batch | fsync) audit_cfg="audit: { durability: $BASE_AUDIT }" ;;
        *) echo "BASE_AUDIT takes off, batch, fsync" >&2; exit 2 ;;
      esac
      binary=$(readlink -f "$BASE")
      busy_poll=${BASE_BUSY_POLL:-$BUSY_POLL}
      workers=${BASE_WORKERS:-$WORKERS} ;;
    batch) audit_cfg="audit: { durability: batch${BATCH_INTERVAL:+, batch_interval: $BATCH_INTERVAL}${AUDIT_TMPFS:+, dir: $(mktemp -d /dev/shm/sluice-bench-audit-XXXXXX)} }" ;;
    fsync) audit_cfg="audit: { durability: fsync }" ;;
    *) echo "AUDIT takes off, batch, fsync" >&2; exit 2 ;;
  esac
  port=$(free_port)
  mkdir -p "$work/sluice-$audit"
  cat > "$work/sluice-$audit/sluice.yaml" <<CONF
data_dir: $work/sluice-$audit/data
workers: $workers
busy_poll_us: $busy_poll
listen: { postgres: 127.0.0.1:$port }
connections:
  - name: bench
    upstream: { host: 127.0.0.1, port: $pg_port, database: bench, user: bench,
                password: "\${env:BENCH_PASSWORD}", tls: disable }
$audit_cfg
$policy
CONF
  sluice_tokens[$audit]=$("$binary" token issue -c "$work/sluice-$audit/sluice.yaml" --identity bench \
    --connection bench --ttl 2h --access write | tail -1)
  $(pin 1) "$binary" serve -c "$work/sluice-$audit/sluice.yaml" > "$work/sluice-$audit/sluice.log" 2>&1 &
  sluice_pids[$audit]=$!
  sluice_ports[$audit]=$port
  for _ in $(seq 50); do grep -q "listening" "$work/sluice-$audit/sluice.log" && break; sleep 0.1; done
done

# Ends the run, with the tail of its log, when a proxy has gone away.
alive() {  # target pid what
  if [ "$2" != - ] && ! kill -0 "$2" 2>/dev/null; then
    echo "pgbench.sh: $1 (pid $2) $3; the last lines of its log:" >&2
    tail -20 "$work/$1/sluice.log" >&2 2>/dev/null || true
    exit 1
  fi
}

run() {  # target port password pid mode clients
  local target=$1 port=$2 password=$3 pid=$4 mode=$5 clients=$6 out tps lat cpu
  local before="0 0 0 0 0" after="0 0 0 0 0" th_before="" th_after="" perf_pid="" trace_pid=""
  local m_before m_after
  if [ -n "${TRACE:-}" ] && [ "$pid" != - ]; then
    mkdir -p "$TRACE"
    timeout -s INT "$DURATION" perf trace -s -p "$pid" -o "$TRACE/$target-$mode-$clients.txt" \
      >/dev/null 2>&1 &
    trace_pid=$!
  fi
  alive "$target" "$pid" "is not running"
  [ "$pid" != - ] && before=$(proc_counters "$pid") && th_before=$(thread_ticks "$pid")
  if [ -n "${PROFILE:-}" ] && [[ $target == sluice-* ]]; then
    mkdir -p "$PROFILE"
    perf record -q -g ${PROFILE_EVENT:--F 1999} -p "$pid" -o "$PROFILE/$target-$mode-$clients.data" \
      -- sleep "$DURATION" >/dev/null 2>&1 &
    perf_pid=$!
  elif [ -n "${PROFILE_ALL:-}" ]; then
    mkdir -p "$PROFILE_ALL"
    perf record -q -F 1999 -a -o "$PROFILE_ALL/$target-$mode-$clients.data" \
      -- sleep "$DURATION" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  m_before="$(machine_ticks) $(postgres_ticks)"
  local split=()
  if [ "${STEADY:-0}" = 1 ]; then
    split=(/usr/bin/python3 "$here/steady_split.py" "$target $mode $clients"
           "$(head -1 "$work/data/postmaster.pid")" "$pid" --)
  fi
  out=$(PGPASSWORD=$password $(pin 0) "${split[@]}" pgbench -n "${workload_flag[@]}" -M "$mode" -c "$clients" \
        -j "$clients" -T "$DURATION" -h 127.0.0.1 -p "$port" -U bench bench 2>&1 || true)
  grep '^steady ' <<<"$out" >&2 || true
  m_after=$(machine_ticks)
  sleep 0.2  # the backends exit after pgbench and are reaped: their CPU joins the postmaster's
  m_after="$m_after $(postgres_ticks)"
  [ -n "$perf_pid" ] && wait "$perf_pid" || true
  [ -n "$trace_pid" ] && wait "$trace_pid" || true
  alive "$target" "$pid" "died during the run"
  [ "$pid" != - ] && after=$(proc_counters "$pid") && th_after=$(thread_ticks "$pid")
  tps=$(echo "$out" | awk '/^tps/ {print $3; exit}')
  lat=$(echo "$out" | awk '/latency average/ {print $4; exit}')
  echo "$m_before $m_after" | awk -v tps="${tps:-0}" -v d="$statement_seconds" -v hz="$tick_hz" -v what="$target $mode $clients" \
    '{ busy = $4 - $1; idle = $5 - $2; if (tps <= 0 || busy + idle <= 0) exit
       n = tps * d
       printf "machine %s: %.0f%% idle, all processes %.1f us CPU per statement, the database %.1f us\n",
              what, 100 * idle / (busy + idle), busy / hz * 1e6 / n, ($6 - $3) / hz * 1e6 / n }' >&2
  cpu="-"
  if [ "$pid" != - ]; then
    # Per statement: CPU µs (user + system) for the table; on stderr user and system apart,
    # and context switches.
    cpu=$(echo "$before $after" | awk -v tps="$tps" -v d="$statement_seconds" -v hz="$tick_hz" \
          '{ printf "%.1f", ($6 + $7 - $1 - $2) / hz * 1e6 / (tps * d) }')
    echo "$before $after" |
      awk -v tps="$tps" -v d="$statement_seconds" -v hz="$tick_hz" -v what="$target $mode $clients" \
      '{ n = tps * d; printf "per statement %s: user %.1f us, sys %.1f us, ctx switches voluntary %.3f involuntary %.3f, minor faults %.3f\n",
         what, ($6 - $1) / hz * 1e6 / n, ($7 - $2) / hz * 1e6 / n, ($8 - $3) / n, ($9 - $4) / n, ($10 - $5) / n }' >&2
    # CPU µs per statement of each thread that used any.
    echo "$th_before | $th_after" | awk -v tps="$tps" -v d="$statement_seconds" -v hz="$tick_hz" -v what="$target $mode $clients" '
      { split($0, halves, "[|]"); nb = split(halves[1], b, " "); na = split(halves[2], a, " ")
        for (i = 1; i <= nb; i++) { split(b[i], x, ":"); before[x[1]] = x[2] }
        line = ""
        for (i = 1; i <= na; i++) { split(a[i], x, ":"); dt = x[2] - before[x[1]]
          if (dt > 0) line = line sprintf(" tid %s %.1f", x[1], dt / hz * 1e6 / (tps * d)) }
        print "per statement by thread " what ":" line }' >&2
  fi
  echo "$target $mode $clients $tps $lat $cpu"
}

results="$work/results"
: > "$results"
targets=(direct pgbouncer)
for relay in "${!relay_ports[@]}"; do targets+=("relay:$relay"); done
for audit in $gateways; do targets+=("sluice:$audit"); done
run_target() {  # run_target TARGET MODE CLIENTS
  case $1 in
    direct) run direct "$pg_port" benchpw - "$2" "$3" ;;
    pgbouncer) run pgbouncer "$bouncer_port" benchpw "$bouncer_pid" "$2" "$3" ;;
    relay:*)
      local r=${1#relay:}
      run "$r" "${relay_ports[$r]}" benchpw "${relay_pids[$r]}" "$2" "$3"
      ;;
    sluice:*)
      local a=${1#sluice:}
      run "sluice-$a" "${sluice_ports[$a]}" "${sluice_tokens[$a]}" "${sluice_pids[$a]}" "$2" "$3"
      ;;
  esac
}
# Targets alternate within each round so that drift on a noisy machine hits all of them, and
# each round starts one target later, so that no target always runs right after another: at
# one client, of two gateway builds run side by side, whichever ran second came out 4-5% ahead,
# both ways round (bench/RESULTS.md, ninth session).
for round in $(seq "$REPEAT"); do
  for mode in $MODES; do
    for c in $CLIENTS; do
      for ((i = 0; i < ${#targets[@]}; i++)); do
        run_target "${targets[$(((i + round - 1) % ${#targets[@]}))]}" "$mode" "$c" >> "$results"
      done
    done
  done
done

echo
echo "pgbench $([ "$WORKLOAD" = select ] && echo "-S" || echo "(TPC-B-like, 7 statements per transaction)"): median of $REPEAT runs of ${DURATION}s; scale $SCALE; $(nproc) cores; pin=$PIN; sluice workers=$( [ "$WORKERS" = 0 ] && echo "one per core" || echo "$WORKERS"), busy_poll_us=$BUSY_POLL; audit: $AUDIT${BASE:+; base: $BASE, audit ${BASE_AUDIT:-off}, busy_poll_us=${BASE_BUSY_POLL:-$BUSY_POLL}, workers=${BASE_WORKERS:-$WORKERS}}$( [ "${POLICY:-0}" = 1 ] && echo '; agent-baseline policy')"
/usr/bin/python3 - "$results" "${BASE_AUDIT:-off}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
base_audit = sys.argv[2]
cells = {}
order = []
for target, mode, clients, tps, lat, cpu in rows:
    key = (mode, int(clients))
    if key not in order:
        order.append(key)
    c = cells.setdefault((target,) + key, {"tps": [], "lat": [], "cpu": []})
    c["tps"].append(float(tps or 0)); c["lat"].append(float(lat or 0))
    if cpu != "-":
        c["cpu"].append(float(cpu))
med = lambda v: statistics.median(v) if v else float("nan")
sluices = sorted({t for (t, m, c) in cells if t.startswith("sluice-")},
                 key=lambda t: ["sluice-off", "sluice-batch", "sluice-fsync", "sluice-base"].index(t))
relays = [t for t in ("floor", "hooked") if any(t == x for (x, m, c) in cells)]
head = f"{'mode':9} {'clients':>7} | {'direct tps':>10} | {'pgbouncer':>10} {'cpu µs':>7}"
for t in relays:
    head += f" | {t:>10} {'cpu µs':>7} {t[0] + '/pgb':>6}"
for t in sluices:
    head += f" | {t:>12} {'lat ms':>7} {'cpu µs':>7} {'s/pgb':>6}"
    if t == "sluice-base":
        head += f" {'new/':>5}" if f"sluice-{base_audit}" in sluices else ""
    elif t != "sluice-off" and "sluice-off" in sluices:
        head += f" {'/off':>5}"
print(head)
for mode, clients in order:
    d, b = cells[("direct", mode, clients)], cells[("pgbouncer", mode, clients)]
    line = f"{mode:9} {clients:>7} | {med(d['tps']):10.0f} | {med(b['tps']):10.0f} {med(b['cpu']):7.1f}"
    for t in relays:
        f = cells[(t, mode, clients)]
        line += f" | {med(f['tps']):10.0f} {med(f['cpu']):7.1f} {med(f['tps'])/med(b['tps']):6.2f}"
    for t in sluices:
        s = cells[(t, mode, clients)]
        line += f" | {med(s['tps']):12.0f} {med(s['lat']):7.3f} {med(s['cpu']):7.1f} {med(s['tps'])/med(b['tps']):6.2f}"
        if t == "sluice-base":
            if f"sluice-{base_audit}" in sluices:
                new = med(cells[(f"sluice-{base_audit}", mode, clients)]["tps"])
                line += f" {new / med(s['tps']):5.2f}"
        elif t != "sluice-off" and "sluice-off" in sluices:
            line += f" {med(s['tps'])/med(cells[('sluice-off', mode, clients)]['tps']):5.2f}"
    print(line)
PY
