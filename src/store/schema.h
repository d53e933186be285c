// The store's SQLite schema as ordered, append-only migrations (see Database::open).
#pragma once

#include <string>
#include <vector>

namespace agentfense::store {

const std::vector<std::string>& store_migrations();

}  // namespace agentfense::store
