// What a timed-out command's error carries of its output: the last bytes of each stream.
// Its whole output (up to runtime.output_limit per stream, 16 MiB) made a REST error body
// of ~200 MB of JSON for 32 MiB of NULs, built and parsed again whole, outside the exec
// output budget (four such calls: +2.8 GB); gRPC trailing metadata may not pass 8 KiB.
#pragma once

#include <cstddef>
#include <string>

#include "sandbox.pb.h"

namespace agentfense::server {

namespace v1 = ::sandbox::v1;

// The last `max_bytes` of `output`, starting on a UTF-8 character when it is text (at
// most 3 bytes later); `truncated` set when anything was cut.
std::string OutputTail(const std::string& output, std::size_t max_bytes, bool& truncated);

// `result` with the text of stdout and stderr cut to their last `max_bytes`, *_truncated
// set when anything was cut, and the exact bytes (stdout_bytes, stderr_bytes) left out.
v1::ExecResult ExecResultTail(const v1::ExecResult& result, std::size_t max_bytes);

}  // namespace agentfense::server
