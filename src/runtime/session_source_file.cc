#include "runtime/session_source_file.h"

#include "runtime/memfd.h"

namespace agentfense::runtime {

GeneratedFile session_source_file() {
  return {sealed_memfd("agentfense-session-source", kSessionSourceText),
          std::string(kSessionSourceDir) + "/bash"};
}

}  // namespace agentfense::runtime
