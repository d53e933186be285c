// exec_result_json.h: the REST exec body rendered piece by piece is byte for byte what
// MessageToJson gives for the whole result (the clients parse that).
#include "server/exec_result_json.h"

#include <gtest/gtest.h>

#include <string>

#include "server/proto_json.h"

namespace agentfense::server {
namespace {

std::string Pieced(const v1::ExecResult& result, std::size_t* largest = nullptr) {
  ExecResultJson json(result);
  std::string body, piece;
  while (json.next(piece)) {
    EXPECT_FALSE(piece.empty());
    if (largest) *largest = std::max(*largest, piece.size());
    body += piece;
  }
  return body;
}

v1::ExecResult Result(std::string out, std::string err) {
  v1::ExecResult result;
  result.set_stdout(std::move(out));
  result.set_stderr(std::move(err));
  result.set_exit_code(3);
  result.mutable_duration()->set_seconds(1);
  result.mutable_duration()->set_nanos(250000000);
  result.set_stderr_truncated(true);
  return result;
}

TEST(ExecResultJson, EmptyResultIsWhatMessageToJsonGives) {
  v1::ExecResult empty;
  EXPECT_EQ(Pieced(empty), MessageToJson(empty));
}

TEST(ExecResultJson, ControlBytesQuotesAndUnicodeMatchMessageToJson) {
  std::string every;
  for (int c = 0; c < 0x80; ++c) every += static_cast<char>(c);
  every += "<>&\"\\ \u00e9 \u2028 \u2029 \U0001F600 \u20ac";
  v1::ExecResult result = Result(every, std::string(1000, '\0') + "tail");
  EXPECT_EQ(Pieced(result), MessageToJson(result));
}

TEST(ExecResultJson, LargeOutputSplitAcrossCharactersMatchesMessageToJson) {
  // Multi-byte characters straddle every piece boundary: 3- and 4-byte ones, offset.
  std::string text = "x";
  while (text.size() < (3u << 20)) text += "\u20ac\U0001F600\n\t\x01";
  std::string nuls(5u << 20, '\0');
  v1::ExecResult result = Result(text, nuls);
  std::size_t largest = 0;
  EXPECT_EQ(Pieced(result, &largest), MessageToJson(result));
  EXPECT_LT(largest, 512u << 10) << "pieces are bounded, not the whole body";
}

TEST(ExecResultJson, InvalidUtf8BytesFieldsMatchMessageToJson) {
  v1::ExecResult result = Result(
      "a\xef\xbf\xbd"
      "b",
      "\xef\xbf\xbd");
  for (std::size_t size : {0u, 1u, 2u, 3u, 65535u, 65536u, 65537u, 1000001u}) {
    std::string raw;
    for (std::size_t i = 0; i < size; ++i) raw += static_cast<char>((i * 131 + 7) & 0xff);
    result.set_stdout_bytes(raw);
    result.set_stderr_bytes(raw + "\xff");
    EXPECT_EQ(Pieced(result), MessageToJson(result)) << size;
  }
}

}  // namespace
}  // namespace agentfense::server
