// Client text in error messages: escaped, never cut at NUL, never raw control bytes;
// and the request limits that name the field and the limit.
#include "common/user_text.h"

#include <gtest/gtest.h>

#include "server/api.h"
#include "server/request_limits.h"

namespace agentfense::server {
namespace {

TEST(UserText, EscapesWhatATerminalOrACStringWouldMisread) {
  EXPECT_EQ(escape_user_text(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(escape_user_text("\x1b[31mred\n\t\r\x7f"), "\\x1b[31mred\\n\\t\\r\\x7f");
  EXPECT_EQ(escape_user_text("back\\slash"), "back\\\\slash");
  EXPECT_EQ(escape_user_text("\xff.bin"), "\\xff.bin");
  EXPECT_EQ(escape_user_text("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93");  // kept
  EXPECT_EQ(escape_user_text("\xe2\x80\xae"
                             "evil"),
            "\\u202eevil");                                        // right-to-left override
  EXPECT_EQ(escape_user_text("\xc2\x85"), "\\u0085");              // C1 next line
  EXPECT_EQ(escape_user_text("\xe2\x80\xa8"), "\\u2028");          // line separator
  EXPECT_EQ(escape_user_text("\xc0\xaf"), "\\xc0\\xaf");           // overlong "/"
  EXPECT_EQ(escape_user_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
  EXPECT_EQ(escape_user_text("\xf0\x9f\x98"), "\\xf0\\x9f\\x98");  // truncated
  // Distinct inputs stay distinct.
  EXPECT_NE(escape_user_text(std::string("\0", 1)), escape_user_text("\\x00"));
}

TEST(UserText, FinalPassLeavesBackslashesAlone) {
  EXPECT_EQ(printable_message("path \\x41 and \x01"), "path \\x41 and \\x01");
}

TEST(UserText, DisplayControlsAreFound) {
  EXPECT_FALSE(has_display_controls("plain caf\xc3\xa9 \xe2\x9c\x93 back\\slash"));
  for (const char* text :
       {"a\nb", "\x1b[31m", "\x7f", "\xff", "\xc2\x85", "\xe2\x80\xae", "\xe2\x80\xa9"})
    EXPECT_TRUE(has_display_controls(text)) << escape_user_text(text);
}

TEST(UserText, Utf8Validity) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain \xc3\xa9 \xf0\x9f\x98\x80"));
  EXPECT_EQ(first_invalid_utf8("ab\xff"), 2u);
  EXPECT_EQ(first_invalid_utf8("\xf4\x90\x80\x80"), 0u);  // beyond U+10FFFF
}

TEST(UserText, Utf8PrefixesAndSuffixesNeverCutACharacter) {
  const std::string text =
      "a\xE2\x82\xAC"
      "b";  // a, a euro sign, b
  EXPECT_EQ(utf8_prefix(text, 3), "a");
  EXPECT_EQ(utf8_prefix(text, 4), "a\xE2\x82\xAC");
  EXPECT_EQ(utf8_prefix(text, 10), text);
  EXPECT_EQ(utf8_suffix(text, 3), "b");
  EXPECT_EQ(utf8_suffix(text, 4),
            "\xE2\x82\xAC"
            "b");
  // Raw bytes: at most 3 continuation bytes skipped, never the whole tail.
  EXPECT_EQ(utf8_suffix(std::string(10, '\x80'), 6), std::string(3, '\x80'));
}

TEST(UserText, ARenderingCutToABoundIsThePrefixOfTheWholeOne) {
  const std::string raw =
      "ab\xFF"
      "c\xE2\x82\xAC\xFE\xFE"
      "d";
  const std::string whole = with_utf8_replacements(raw);
  for (std::size_t max = 0; max <= whole.size() + 2; ++max) {
    const std::string cut = with_utf8_replacements(raw, max);
    EXPECT_EQ(cut, std::string(utf8_prefix(whole, max))) << max;
    EXPECT_LE(cut.size(), max);
    EXPECT_TRUE(is_valid_utf8(cut)) << max;
  }
  // A bound far below the input: the rendering stops there (one bad byte renders as 3).
  EXPECT_EQ(with_utf8_replacements(std::string(1 << 20, '\xFF'), 9),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(UserText, ApiErrorMessagesAreWholeAndPrintable) {
  constexpr char kRaw[] = "sandbox sb_\0x\x1b not found";
  const ApiError error(StatusCode::NOT_FOUND, std::string(kRaw, sizeof kRaw - 1));
  EXPECT_STREQ(error.what(), "sandbox sb_\\x00x\\x1b not found");
}

ApiError error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const ApiError& error) {
    return error;
  }
  ADD_FAILURE() << "no ApiError";
  return ApiError(StatusCode::OK, "");
}

TEST(RequestLimits, CommandSizeIsTheKernelsPerArgumentLimit) {
  check_command(std::string(kMaxCommandBytes, 'x'));
  const ApiError error = error_of([] { check_command(std::string(kMaxCommandBytes + 1, 'x')); });
  EXPECT_EQ(error.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(error.reason(), kReasonRequestTooLarge);
  EXPECT_STREQ(error.what(), "command is 131072 bytes; the limit is 131071 bytes");
  EXPECT_EQ(error_of([] { check_command(""); }).reason(), kReasonInvalidRequest);
}

TEST(RequestLimits, EnvNamesValuesAndSizes) {
  check_env({{"PATH", "/x"}, {"_A1", ""}});
  EXPECT_STREQ(error_of([] {
                 check_env({{"A=B", "1"}});
               }).what(),
               "env: 'A=B' is not a valid variable name (letters, digits and _, not starting "
               "with a digit)");
  EXPECT_STREQ(error_of([] {
                 check_env({{std::string("A\0B", 3), "1"}});
               }).what(),
               "env: 'A\\x00B' is not a valid variable name (letters, digits and _, not "
               "starting with a digit)");
  EXPECT_STREQ(error_of([] {
                 check_env({{"A", std::string("x\0", 2)}});
               }).what(),
               "env: the value of 'A' holds a NUL byte");
  std::map<std::string, std::string> many;
  for (int i = 0; i <= 256; ++i) many["V" + std::to_string(i)] = "";
  EXPECT_EQ(error_of([&] { check_env(many); }).reason(), kReasonRequestTooLarge);
  EXPECT_EQ(error_of([] {
              check_env({{"A", std::string(kMaxEnvEntryBytes, 'x')}});
            }).reason(),
            kReasonRequestTooLarge);
}

TEST(RequestLimits, SessionShells) {
  EXPECT_EQ(checked_session_shell(""), "/bin/bash");
  EXPECT_EQ(checked_session_shell("bash"), "/bin/bash");
  EXPECT_EQ(checked_session_shell("/usr/bin/bash"), "/usr/bin/bash");
  // Clients of the original API name /bin/sh: accepted, echoed, run as bash.
  EXPECT_EQ(checked_session_shell("/bin/sh"), "/bin/sh");
  EXPECT_EQ(checked_session_shell("sh"), "sh");
  EXPECT_EQ(checked_session_shell("/usr/bin/sh"), "/usr/bin/sh");
  EXPECT_STREQ(error_of([] { (void)checked_session_shell("/tmp/bash"); }).what(),
               "shell '/tmp/bash' cannot run a session; use bash, /bin/bash, /usr/bin/bash, sh, "
               "/bin/sh or /usr/bin/sh (each runs the session in bash; empty = bash)");
  for (const char* shell : {"/bin/dash", "/bin/zsh", "SH", "/bin//sh", "sh -c"}) {
    EXPECT_THROW((void)checked_session_shell(shell), ApiError) << shell;
  }
}

TEST(RequestLimits, SizesAreDescribedReadably) {
  EXPECT_EQ(describe_size(16 << 20), "16 MiB (16777216 bytes)");
  EXPECT_EQ(describe_size(256 << 10), "256 KiB (262144 bytes)");
  EXPECT_EQ(describe_size(4095), "4095 bytes");
}

}  // namespace
}  // namespace agentfense::server
