#include "server/config/quantity_parse.h"

#include <gtest/gtest.h>

namespace agentfense::server {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsEveryUnitAndCombinations) {
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("30s"), milliseconds(30'000));
  EXPECT_EQ(parse_duration("5m"), milliseconds(300'000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(parse_duration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(parse_duration("2m30s250ms"), milliseconds(150'250));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
}

TEST(ParseDuration, BareIntegersAreSeconds) {
  EXPECT_EQ(parse_duration("30"), milliseconds(30'000));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
}

TEST(ParseDuration, RejectsMalformedText) {
  for (const char* text : {"", "s", "5x", "5 m", " 5m", "5m ", "-5s", "+5s", "1.5h", "5M", "1m1h",
                           "1s1s", "1h30", "ms", "5msx", "1d"}) {
    EXPECT_FALSE(parse_duration(text).has_value()) << "'" << text << "'";
  }
}

TEST(ParseDuration, RejectsOverflowInsteadOfWrapping) {
  EXPECT_FALSE(parse_duration("999999999999999h").has_value());
  EXPECT_FALSE(parse_duration("9999999999999999").has_value());  // 16 digits
}

TEST(FormatDuration, ShortestFormRoundTrips) {
  EXPECT_EQ(format_duration(milliseconds(0)), "0s");
  EXPECT_EQ(format_duration(milliseconds(500)), "500ms");
  EXPECT_EQ(format_duration(milliseconds(300'000)), "5m");
  EXPECT_EQ(format_duration(milliseconds(5'400'000)), "1h30m");
  EXPECT_EQ(format_duration(milliseconds(86'400'000)), "24h");
  for (const long long ms : {1LL, 999LL, 1000LL, 61'001LL, 3'600'001LL, 90'061'001LL}) {
    EXPECT_EQ(parse_duration(format_duration(milliseconds(ms))), milliseconds(ms)) << ms;
  }
}

TEST(ParseSize, AcceptsBinaryUnitsInEverySpelling) {
  EXPECT_EQ(parse_size("16MiB"), 16 << 20);
  EXPECT_EQ(parse_size("512M"), 512 << 20);
  EXPECT_EQ(parse_size("1G"), 1 << 30);
  EXPECT_EQ(parse_size("1GB"), 1 << 30);
  EXPECT_EQ(parse_size("4k"), 4096);
  EXPECT_EQ(parse_size("4kib"), 4096);
  EXPECT_EQ(parse_size("2T"), std::int64_t{2} << 40);
  EXPECT_EQ(parse_size("1048576"), 1048576);
  EXPECT_EQ(parse_size("100B"), 100);
}

TEST(ParseSize, RejectsMalformedText) {
  for (const char* text : {"", "M", "1.5G", "-1", "16 MiB", "16MiBs", "16X", "1Mi", "0x10"}) {
    EXPECT_FALSE(parse_size(text).has_value()) << "'" << text << "'";
  }
  EXPECT_FALSE(parse_size("999999999999999T").has_value());
}

TEST(FormatSize, UsesTheLargestExactUnit) {
  EXPECT_EQ(format_size(16 << 20), "16MiB");
  EXPECT_EQ(format_size(1536), "1536");
  EXPECT_EQ(format_size(std::int64_t{3} << 30), "3GiB");
  EXPECT_EQ(format_size(0), "0");
  EXPECT_EQ(parse_size(format_size(1536 * 1024)), 1536 * 1024);
}

}  // namespace
}  // namespace agentfense::server
