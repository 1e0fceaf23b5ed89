// Loading a connection's catalog from its PostgreSQL server.
//
// Uses the gateway's own connection (the same connector as sessions, so the same TLS and
// password rules) with search_path=pg_catalog, so view definitions come back with every name
// qualified. Reads relations and their columns, partition and inheritance roots, functions,
// and the definitions of views, which are analysed into column lineage (views over views
// converge over a few passes).
#pragma once

#include <memory>

#include "config/config.h"
#include "core/status.h"
#include "net/asio.h"
#include "sql/catalog.h"

namespace sluice::session::pg {

net::awaitable<Result<std::shared_ptr<sql::SnapshotCatalog>>> load_catalog(
    const config::Connection& connection, net::ssl::context& tls, std::uint64_t generation);

// load_catalog, or a deadline_exceeded error once `timeout` has passed.
net::awaitable<Result<std::shared_ptr<sql::SnapshotCatalog>>> load_catalog_within(
    const config::Connection& connection, net::ssl::context& tls, std::uint64_t generation,
    std::chrono::milliseconds timeout);

// Runs load_catalog_within on a private io_context, for callers outside one (the CLI's
// `policy check --live`).
Result<std::shared_ptr<sql::SnapshotCatalog>> load_catalog_blocking(
    const config::Connection& connection, net::ssl::context& tls, std::uint64_t generation,
    std::chrono::milliseconds timeout);

}  // namespace sluice::session::pg
