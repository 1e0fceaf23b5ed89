#!/usr/bin/env bash
# Installs the Debian 12 packages Sluice builds and tests with. Idempotent: installs only what
# is missing, and runs apt-get update only when something is.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libpg-query-dev postgresql-server-dev-15 libprotobuf-c-dev libsqlite3-dev libpq-dev libyaml-cpp-dev libsimdjson-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  postgresql-15 postgresql-client-15 pgbouncer
  python3-psycopg python3-pytest python3-yaml python3-cryptography
  libpostgresql-jdbc-java openssl procps iproute2
)
# Use the machine's JDK and Node.js when present; install Debian's otherwise.
command -v javac >/dev/null 2>&1 || packages+=(openjdk-17-jdk-headless)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged servers; the tests start their own on free ports.
for svc in postgresql mariadb pgbouncer; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
