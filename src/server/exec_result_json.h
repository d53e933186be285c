// An ExecResult as the REST body, piece by piece. MessageToJson built the whole body at
// once, and JSON expands output up to 6x (a NUL is "\u0000"): 32 MiB of output became a
// 201 MB string, ~430 MB of server memory per call. Here the server holds the result's
// raw output and one piece (~64 KiB of output, escaped) at a time.
//
// The body is byte for byte what MessageToJson(result) gives: the fields other than
// the output come from MessageToJson of the result without its output, and each piece of
// output is escaped by MessageToJson of a StringValue (BytesValue for stdoutBytes /
// stderrBytes) holding just that piece, cut where escaping does not depend on the
// neighbours (a UTF-8 character boundary; a multiple of 3 bytes for base64).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sandbox.pb.h"

namespace agentfense::server {

namespace v1 = ::sandbox::v1;

class ExecResultJson {
 public:
  explicit ExecResultJson(v1::ExecResult result);
  ExecResultJson(const ExecResultJson&) = delete;
  ExecResultJson& operator=(const ExecResultJson&) = delete;

  // Replaces `piece` with the next part of the body (never empty); false once all of it
  // was given.
  bool next(std::string& piece);

 private:
  struct Segment {
    std::string text;                    // JSON as is, or
    const std::string* field = nullptr;  // output to escape (points into the members)
    bool base64 = false;
  };
  void add_field(const std::string& name, const std::string* value, bool base64);

  std::string stdout_, stderr_, stdout_bytes_, stderr_bytes_;
  std::vector<Segment> segments_;
  std::size_t segment_ = 0;  // the one next() works on
  std::size_t offset_ = 0;   // into its field
};

}  // namespace agentfense::server
