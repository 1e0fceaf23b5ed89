#!/usr/bin/env bash
# make demo: a throwaway PostgreSQL with sample data, Sluice on the embedded default, and an
# agent session through it. Everything lives in a temporary directory and is removed at the
# end. With a terminal attached, the gateway stays up until you press Enter so you can connect
# your own client; set DEMO_KEEP=0 to skip that.
set -euo pipefail

SLUICE=$(readlink -f "${1:-build/sluice}")
REPO=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
work=$(mktemp -d /tmp/sluice-demo-XXXXXX)
chown postgres "$work"
chmod 755 "$work"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() {
  [ -n "${gw_pid:-}" ] && kill "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null || true
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

pg_port=$(free_port)
gw_port=$(free_port)
admin_port=$(free_port)
agent_password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')

bold "1. A throwaway PostgreSQL 15 with a sample shop (customers with e-mails, SSNs, cards; orders)"
echo "postgres-demo" > "$work/pw"; chown postgres "$work/pw"
runuser -u postgres -- "$PGBIN/initdb" -D "$work/pg" -U postgres -A scram-sha-256 \
  --pwfile="$work/pw" --no-sync -E UTF8 --locale=C >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
export PGPASSWORD=postgres-demo
psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres \
  -c "create role sluice_agent login password '$agent_password'" -c "create database shop owner sluice_agent"
PGPASSWORD=$agent_password psql -X -q -h 127.0.0.1 -p "$pg_port" -U sluice_agent shop \
  -f "$REPO/examples/shop.sql"
unset PGPASSWORD
echo "PostgreSQL is on 127.0.0.1:$pg_port; only the gateway knows the sluice_agent password."

bold "2. Sluice on the embedded default (SQLite state under data_dir)"
cat > "$work/sluice.yaml" <<CONF
data_dir: ./sluice-data
listen:
  postgres: 127.0.0.1:$gw_port
  admin: 127.0.0.1:$admin_port       # the admin API: agents request grants here
connections:
  - name: shop
    type: postgres
    upstream: { host: 127.0.0.1, port: $pg_port, database: shop, user: sluice_agent,
                password: "\${env:SHOP_PASSWORD}", tls: disable }
roles:
  - name: agents                    # read access for 15 minutes is approved automatically;
    match: { groups: [ai-agents] }  # anything more waits for a reviewer
    connections: [shop]
    max_ttl: 1h
    access: write
    auto_approve: { access: read, max_ttl: 15m }
    reviewers: { identities: [dana] }
CONF
cat "$work/sluice.yaml"
export SHOP_PASSWORD=$agent_password
(cd "$work" && exec "$SLUICE" serve -c sluice.yaml > "$work/gateway.log" 2>&1) &
gw_pid=$!
for _ in $(seq 100); do grep -q "listening" "$work/gateway.log" 2>/dev/null && break; sleep 0.1; done
cat "$work/gateway.log"

bold "3. An administrator grants the agent 15 minutes of access; the token is the last line"
cd "$work"
out=$(run "$SLUICE" token issue -c sluice.yaml --identity agent-7 --connection shop --ttl 15m \
  --reason "demo: answer a support question")
echo "$out"
token=$(echo "$out" | tail -1)

bold "4. The agent connects with psql: user = identity, database = connection, password = token"
export PGPASSWORD=$token
url="postgresql://agent-7@127.0.0.1:$gw_port/shop"
run psql -X "$url" -c "select current_user as upstream_role, current_setting('application_name') as app" \
  -c "select status, count(*), sum(amount) from orders group by status order by status"

bold "5. A wrong token, a wrong connection name: each refused with a clear error"
PGPASSWORD=slc_not_a_real_token run psql -X "$url" -c "select 1" || true
run psql -X "postgresql://agent-7@127.0.0.1:$gw_port/payroll" -c "select 1" || true

bold "6. Revoking the grant ends the agent's live session within a second"
psql -X "$url" -c "select pg_sleep(5)" > "$work/long.out" 2>&1 &
long=$!
sleep 1
grant=$("$SLUICE" grants list -c sluice.yaml --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
run "$SLUICE" grants revoke -c sluice.yaml "$grant" --as demo-admin
wait "$long" || true
cat "$work/long.out"
run "$SLUICE" sessions list -c sluice.yaml

bold "7. Agents ask for themselves: an API key bound to a role, then grants over the admin API"
key=$(run "$SLUICE" apikeys create -c sluice.yaml --identity report-bot --roles agents | tail -1)
echo "API key for report-bot: ${key:0:8}... (shown once; stored only as a hash)"
export SLUICE_API_KEY=$key
server=http://127.0.0.1:$admin_port
token3=$(run "$SLUICE" grants request --server "$server" --connection shop --ttl 10m \
  --tables public.orders --reason "demo: weekly revenue" | tail -1)
PGPASSWORD=$token3 run psql -X "postgresql://report-bot@127.0.0.1:$gw_port/shop" \
  -c "select count(*) as orders from orders"
echo "The grant is scoped to public.orders, so customers is refused:"
PGPASSWORD=$token3 run psql -X "postgresql://report-bot@127.0.0.1:$gw_port/shop" \
  -c "select name from customers" || true
echo "Write access waits for a reviewer; dana approves on the host while the agent waits:"
"$SLUICE" grants request --server "$server" --connection shop --ttl 10m --access write \
  --reason "demo: fix order 3" --wait 30s > "$work/write.token" 2> "$work/write.log" &
req=$!
pending=""
for _ in $(seq 50); do
  pending=$("$SLUICE" grants list -c sluice.yaml --json --status pending | /usr/bin/python3 -c \
    'import json,sys; g=json.load(sys.stdin); print(g[0]["id"] if g else "")')
  [ -n "$pending" ] && break
  sleep 0.2
done
run "$SLUICE" grants approve -c sluice.yaml "$pending" --as dana
wait "$req"
cat "$work/write.log"
unset SLUICE_API_KEY

bold "8. Every session was recorded: replay one, verify the log's chain and signatures"
first=$("$SLUICE" sessions list -c sluice.yaml --json --identity report-bot | /usr/bin/python3 -c \
  'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
run "$SLUICE" replay -c sluice.yaml "$first"
run "$SLUICE" sessions list -c sluice.yaml --table public.customers
run "$SLUICE" audit verify -c sluice.yaml

bold "9. Connect your own client"
token2=$("$SLUICE" token issue -c sluice.yaml --identity you --connection shop --ttl 30m | tail -1)
cat <<MSG
A fresh 30-minute token for identity "you":

  PGPASSWORD=$token2 psql "postgresql://you@127.0.0.1:$gw_port/shop"

Any PostgreSQL driver works the same way (host 127.0.0.1, port $gw_port, database "shop",
user "you", password = the token). The gateway log is $work/gateway.log.
MSG
if [ -t 0 ] && [ "${DEMO_KEEP:-1}" != 0 ]; then
  read -r -p "Press Enter to stop the demo (everything is removed)... " _
fi
