#include "server/exec_result_json.h"

#include <google/protobuf/wrappers.pb.h>

#include <algorithm>
#include <string_view>
#include <tuple>

#include "common/api_error.h"
#include "common/text_safety.h"
#include "server/proto_json.h"

namespace agentfense::server {
namespace {

namespace pb = google::protobuf;

// Output escaped per piece: ~64 KiB in, up to ~390 KiB out (all control bytes).
constexpr std::size_t kPieceBytes = 64 << 10;

// The JSON string MessageToJson gives `message` (a wrapper: a bare JSON string), without
// its quotes.
std::string unquoted(const pb::Message& message) {
  std::string json = MessageToJson(message);
  return json.substr(1, json.size() - 2);
}

// Where a piece of UTF-8 text starting at `from` may end: at most kPieceBytes on, never
// inside a character (the stdout/stderr fields are valid UTF-8).
std::size_t text_piece_end(const std::string& text, std::size_t from) {
  const std::size_t length = utf8_prefix(std::string_view(text).substr(from), kPieceBytes).size();
  return from + std::max<std::size_t>(length, 1);  // never an empty piece: next() moves on
}

std::string escaped_piece(const std::string& value, std::size_t from, std::size_t& end,
                          bool base64) {
  if (base64) {
    end = std::min(value.size(), from + kPieceBytes / 3 * 3);  // whole base64 quanta
    pb::BytesValue bytes;
    bytes.set_value(value.substr(from, end - from));
    return unquoted(bytes);
  }
  end = text_piece_end(value, from);
  pb::StringValue text;
  text.set_value(value.substr(from, end - from));
  return unquoted(text);
}

}  // namespace

ExecResultJson::ExecResultJson(v1::ExecResult result) {
  stdout_.swap(*result.mutable_stdout());
  stderr_.swap(*result.mutable_stderr());
  stdout_bytes_.swap(*result.mutable_stdout_bytes());
  stderr_bytes_.swap(*result.mutable_stderr_bytes());
  // Every other field, and "name":"" where each output goes.
  segments_.push_back({MessageToJson(result)});
  add_field("stdout", &stdout_, false);
  add_field("stderr", &stderr_, false);
  add_field("stdoutBytes", &stdout_bytes_, true);
  add_field("stderrBytes", &stderr_bytes_, true);
}

// Splits the JSON text at the end of the segments after `"name":"` and puts the field
// there. The names are distinct and quoted, and no other value holds a quote, so each
// marker is found once, in whichever text segment holds it.
void ExecResultJson::add_field(const std::string& name, const std::string* value, bool base64) {
  const std::string marker = "\"" + name + "\":\"\"";
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    if (segments_[i].field) continue;
    const std::size_t at = segments_[i].text.find(marker);
    if (at == std::string::npos) continue;
    const std::size_t split = at + marker.size() - 1;  // before the closing quote
    Segment after{segments_[i].text.substr(split)};
    segments_[i].text.resize(split);
    segments_.insert(segments_.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                     {Segment{{}, value, base64}, std::move(after)});
    return;
  }
  // Only if protobuf's JSON printer changed how it spells the result.
  throw ApiError(StatusCode::INTERNAL, "cannot encode the exec result as JSON: no " + marker);
}

bool ExecResultJson::next(std::string& piece) {
  while (segment_ < segments_.size()) {
    const Segment& segment = segments_[segment_];
    if (!segment.field) {
      ++segment_;
      if (segment.text.empty()) continue;
      piece = segment.text;
      return true;
    }
    if (offset_ >= segment.field->size()) {
      ++segment_;
      offset_ = 0;
      continue;
    }
    std::size_t end = 0;
    piece = escaped_piece(*segment.field, offset_, end, segment.base64);
    offset_ = end;
    return true;
  }
  return false;
}

}  // namespace agentfense::server
