#include "server/request_limits.h"

#include <algorithm>
#include <cstdio>

#include "common/session_shells.h"
#include "common/user_text.h"
#include "server/api.h"

namespace agentfense::server {
namespace {

[[noreturn]] void too_large(const std::string& what, std::size_t size, std::size_t limit) {
  throw ApiError(
      StatusCode::INVALID_ARGUMENT,
      what + " is " + std::to_string(size) + " bytes; the limit is " + describe_size(limit),
      kReasonRequestTooLarge);
}

// "env has 300 variables; the limit is 256".
[[noreturn]] void too_many(const std::string& what, std::size_t count, const char* unit,
                           std::size_t limit) {
  throw ApiError(StatusCode::INVALID_ARGUMENT,
                 what + " has " + std::to_string(count) + " " + unit + "; the limit is " +
                     std::to_string(limit),
                 kReasonRequestTooLarge);
}

[[noreturn]] void invalid(const std::string& message) {
  throw ApiError(StatusCode::INVALID_ARGUMENT, message, kReasonInvalidRequest);
}

bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

bool has_control_character(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return true;
  }
  return false;
}

}  // namespace

std::string describe_size(std::size_t bytes) {
  constexpr std::size_t kMiB = 1 << 20, kKiB = 1 << 10;
  if (bytes >= kMiB && bytes % kMiB == 0)
    return std::to_string(bytes / kMiB) + " MiB (" + std::to_string(bytes) + " bytes)";
  if (bytes >= kKiB && bytes % kKiB == 0)
    return std::to_string(bytes / kKiB) + " KiB (" + std::to_string(bytes) + " bytes)";
  return std::to_string(bytes) + " bytes";
}

std::string describe_seconds(std::chrono::milliseconds duration) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3gs", static_cast<double>(duration.count()) / 1000.0);
  return text;
}

void check_command(std::string_view command) {
  if (command.empty()) invalid("command is empty");
  if (command.size() > kMaxCommandBytes) too_large("command", command.size(), kMaxCommandBytes);
  if (command.find('\0') != std::string_view::npos)
    invalid("command holds a NUL byte (at offset " + std::to_string(command.find('\0')) + ")");
}

void check_env(const std::map<std::string, std::string>& env) {
  if (env.size() > kMaxEnvEntries) too_many("env", env.size(), "variables", kMaxEnvEntries);
  std::size_t total = 0;
  for (const auto& [name, value] : env) {
    const std::string shown = "'" + escape_user_text(name) + "'";
    if (name.empty() || !is_name_start(name.front()) ||
        !std::all_of(name.begin(), name.end(), is_name_char))
      invalid("env: " + shown +
              " is not a valid variable name (letters, digits and _, not starting with a "
              "digit)");
    if (value.find('\0') != std::string::npos)
      invalid("env: the value of " + shown + " holds a NUL byte");
    const std::size_t entry = name.size() + 1 + value.size();
    if (entry > kMaxEnvEntryBytes)
      too_large("env: " + shown + " (NAME=value)", entry, kMaxEnvEntryBytes);
    total += entry;
  }
  if (total > kMaxEnvTotalBytes)
    too_large("env (all NAME=value together)", total, kMaxEnvTotalBytes);
}

void check_workdir(std::string_view workdir) {
  if (workdir.size() > kMaxWorkdirBytes) too_large("workdir", workdir.size(), kMaxWorkdirBytes);
  if (workdir.find('\0') != std::string_view::npos)
    invalid("workdir '" + escape_user_text(workdir) + "' holds a NUL byte");
  if (has_control_character(workdir))
    invalid("workdir '" + escape_user_text(workdir) + "' holds control characters");
  const std::string padded = "/" + std::string(workdir) + "/";
  if (padded.find("/../") != std::string::npos)
    invalid("workdir '" + escape_user_text(workdir) + "' must not contain '..' components");
}

void check_stdin(std::string_view stdin_data) {
  if (stdin_data.size() > kMaxStdinBytes) too_large("stdin", stdin_data.size(), kMaxStdinBytes);
}

std::string checked_session_shell(std::string_view shell) {
  if (shell.empty() || shell == "bash") return "/bin/bash";
  if (is_session_shell_name(shell)) return std::string(shell);
  invalid("shell '" + escape_user_text(shell) + "' cannot run a session; use " +
          std::string(session_shell_list()) + " (each runs the session in bash; empty = bash)");
}

void check_stored_text(const std::string& field, std::string_view text, std::size_t limit) {
  if (text.size() > limit) too_large(field, text.size(), limit);
}

void check_codebase_names(std::string_view name, std::string_view owner_id) {
  check_stored_text("name", name, kMaxNameBytes);
  check_stored_text("owner_id", owner_id, kMaxNameBytes);
}

void check_labels(const std::map<std::string, std::string>& labels) {
  if (labels.size() > kMaxLabels) too_many("labels", labels.size(), "entries", kMaxLabels);
  for (const auto& [key, value] : labels) {
    check_stored_text("a label key", key, kMaxLabelKeyBytes);
    check_stored_text("label " + escape_user_text(key.substr(0, 64)), value, kMaxLabelValueBytes);
  }
}

}  // namespace agentfense::server
