// This server's identity towards dockerd: a random id kept in the data directory, with
// which every container it starts is labelled. A restart (after kill -9 too) finds and
// removes exactly the containers of an earlier process over the same data directory, and
// never those of another server sharing the same dockerd.
#pragma once

#include <string>

namespace agentfense::server {

// Reads <data_dir>/instance-id, creating it on first start. Throws SystemError.
std::string load_or_create_instance_id(const std::string& data_dir);

}  // namespace agentfense::server
