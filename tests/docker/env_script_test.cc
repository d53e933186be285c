// The caller's variables as shell text: a real /bin/sh and bash must reproduce every value
// byte for byte, and nothing in a value may run.
#include "runtime/docker/env_script.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "common/errors.h"

namespace agentfense::runtime::docker {
namespace {

// Runs `script` in `shell` and returns its stdout.
std::string run_shell(const std::string& shell, const std::string& script) {
  const std::string command = shell + " -c " + shell_quote(script);
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), &::pclose);
  if (!pipe) return "popen failed";
  std::string out;
  std::array<char, 4096> buffer;
  while (const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe.get()))
    out.append(buffer.data(), n);
  return out;
}

TEST(EnvScript, ValuesSurviveEveryShell) {
  const std::string tricky =
      "it's \"quoted\"\n$(touch /tmp/pwned) `id` \\ \t$HOME ;|&\x01\xff end\n";
  const std::string script = export_script({{"TRICKY", tricky}, {"EMPTY", ""}});
  for (const char* shell : {"/bin/sh", "/bin/bash"}) {
    EXPECT_EQ(run_shell(shell, script + "printf %s \"$TRICKY\""), tricky) << shell;
    EXPECT_EQ(run_shell(shell, script + "sh -c 'printf \"[%s]\" \"$EMPTY\"'"), "[]") << shell;
  }
}

TEST(EnvScript, NamesAShellCannotExportAreRefused) {
  for (const char* name : {"A-B", "1ABC", "", "A B", "A=B"})
    EXPECT_THROW(export_script({{name, "x"}}), UserError) << name;
  EXPECT_THROW(export_script({{"A", std::string("x\0y", 3)}}), UserError);
  EXPECT_EQ(export_script({{"_ok_1", "v"}}), "_ok_1='v'\nexport _ok_1\n");
}

TEST(EnvScript, QuoteIsOneWord) {
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote(""), "''");
}

}  // namespace
}  // namespace agentfense::runtime::docker
