// What the server accepts in the requests that start processes, checked before any
// process is started (docs/api.md "Limits"). Every refusal is INVALID_ARGUMENT naming
// the field and, for sizes, the limit (reason REQUEST_TOO_LARGE), or what is wrong with
// the value (reason INVALID_REQUEST); client text in messages is escaped.
//
// Why these numbers: a command reaches the kernel as one argv string (`/bin/sh -c
// COMMAND` through bwrap's execve), and Linux refuses any single argument longer than
// MAX_ARG_STRLEN (128 KiB with its terminating NUL): without the cap a 50 MB command
// failed as "execve bwrap: Argument list too long" (INTERNAL). A session command takes
// the same cap so one command behaves alike in both. Each environment entry is one
// string to execve ("NAME=value") under the same per-string limit, and all of them with
// the command stay far below the total argument space (ARG_MAX, 2 MiB by default).
// stdin is pumped from memory, so it is bounded too.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace agentfense::server {

inline constexpr std::size_t kMaxCommandBytes = 131071;  // MAX_ARG_STRLEN - 1
inline constexpr std::size_t kMaxEnvEntries = 256;
inline constexpr std::size_t kMaxEnvEntryBytes = 131071;     // "NAME=value"
inline constexpr std::size_t kMaxEnvTotalBytes = 256 << 10;  // sum of "NAME=value"
inline constexpr std::size_t kMaxStdinBytes = std::size_t{16} << 20;
inline constexpr std::size_t kMaxWorkdirBytes = 4095;  // PATH_MAX - 1
inline constexpr std::size_t kMaxPathBytes = 4095;     // a file path in a request, the same
// What the server stores and echoes in every listing, record, audit event and log line:
// 30 MiB of labels in three requests grew the disk by 361 MiB and broke ListSandboxes.
inline constexpr std::size_t kMaxNameBytes = 255;  // codebase name, owner_id
inline constexpr std::size_t kMaxImageBytes = 1024;
inline constexpr std::size_t kMaxLabels = 64;
inline constexpr std::size_t kMaxLabelKeyBytes = 128;
inline constexpr std::size_t kMaxLabelValueBytes = 1024;

// "16 MiB (16777216 bytes)", "131071 bytes".
std::string describe_size(std::size_t bytes);
// "3s", "0.001s", "1.8e+03s" (three significant digits): a timeout or wait in a message.
std::string describe_seconds(std::chrono::milliseconds duration);

// Non-empty, no NUL, at most kMaxCommandBytes bytes.
void check_command(std::string_view command);
// At most kMaxEnvEntries entries; names are portable shell names
// ([A-Za-z_][A-Za-z0-9_]*); values hold no NUL; sizes as above.
void check_env(const std::map<std::string, std::string>& env);
// Empty (= /workspace) or a path of at most kMaxWorkdirBytes bytes with no control
// characters and no ".." component. Whether it exists is learned inside the sandbox
// (as before: the command then fails to start, with bwrap's message on stderr).
void check_workdir(std::string_view workdir);
void check_stdin(std::string_view stdin_data);
// The shell a session was asked for: "" (the default: "/bin/bash") or one of
// kSessionShellNames (common/session_shells.h), returned as given (Session.shell echoes
// it; every one runs bash). Anything else is refused before a process starts.
std::string checked_session_shell(std::string_view shell);
// `field` (a name, an owner id, an image) at most `limit` bytes. Its content is escaped
// wherever it is shown, so any text is kept as sent.
void check_stored_text(const std::string& field, std::string_view text, std::size_t limit);
// A codebase's name and owner id (CreateCodebase, ImportDirectory), kMaxNameBytes each.
void check_codebase_names(std::string_view name, std::string_view owner_id);
// At most kMaxLabels labels, each key and value within its limit.
void check_labels(const std::map<std::string, std::string>& labels);

}  // namespace agentfense::server
