#include "store/ids.h"

#include "common/random_hex.h"

namespace agentfense::store {

std::string new_id(std::string_view prefix) {
  return std::string(prefix) + random_hex(8);
}

}  // namespace agentfense::store
