// Internal to the config library: reading key entries from an already parsed YAML list,
// for the config loader (auth.keys) and the keys file.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "server/config/key_entries.h"

namespace agentfense::server {

// `name` is how the list is called in messages ("auth.keys", "keys"), `source` the file.
std::vector<KeyEntry> parse_key_entry_list(const YAML::Node& list, const std::string& name,
                                           const std::string& source);

}  // namespace agentfense::server
