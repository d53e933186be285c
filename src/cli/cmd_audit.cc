// `agentfense audit`: read a trail as a timeline or a summary, follow it live, or check
// its hash chain (`audit verify`). docs/audit.md describes the format.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "audit/summary.h"
#include "audit/timeline.h"
#include "audit/verify.h"
#include "cli/audit_server.h"
#include "cli/commands.h"
#include "cli/server_client.h"
#include "common/errors.h"

namespace agentfense::cli {
namespace {

struct AuditArgs {
  std::string file;
  std::string server;   // REST base URL, e.g. http://127.0.0.1:8080
  std::string sandbox;  // with --server
  std::string api_key;  // with --server: sent as a Bearer token
  std::string ca_cert;  // with an https:// --server
  audit::Filter filter;
  bool denied = false, follow = false, json = false, summary = false;
  std::string verify_file;
};

// Feeds complete lines to `sink`; with `follow`, keeps reading as the file grows.
void read_lines(const std::string& path, bool follow,
                const std::function<void(const std::string&)>& sink) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot open " + path);
  std::string partial, chunk;
  char buffer[65536];
  for (;;) {
    in.read(buffer, sizeof buffer);
    const std::streamsize got = in.gcount();
    if (got > 0) {
      partial.append(buffer, static_cast<size_t>(got));
      size_t start = 0;
      for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
        sink(partial.substr(start, nl - start));
      }
      partial.erase(0, start);
      continue;
    }
    if (!follow) break;
    in.clear();  // past EOF: wait for the writers
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int run_verify(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot open " + path);
  const audit::VerifyResult result = audit::verify(in);
  if (!result.ok) {
    std::printf("%s:%llu: FAILED: %s\n", path.c_str(),
                static_cast<unsigned long long>(result.bad_line), result.problem.c_str());
    return 1;
  }
  std::printf("%s: ok, %llu events, head %s\n", path.c_str(),
              static_cast<unsigned long long>(result.lines), result.head.c_str());
  return 0;
}

int run_audit(AuditArgs& args) {
  if (!args.verify_file.empty()) return run_verify(args.verify_file);
  if (args.denied) args.filter.outcome = "denied";
  try {
    args.filter.validate();
  } catch (const audit::FilterError& error) {
    throw UserError(std::string("--") + error.what());  // the flag, as typed
  }
  if (args.file.empty() == args.server.empty()) {
    throw UserError("give a trail FILE or --server URL --sandbox ID (not both)");
  }
  if (!args.server.empty() && args.sandbox.empty()) throw UserError("--server needs --sandbox ID");
  args.api_key = api_key_from(args.api_key, {"AGENTFENSE_TOKEN"});  // the first version's name
  if (args.summary && args.follow) throw UserError("--summary and --follow do not go together");
  audit::Summary summary;
  auto sink = [&](const std::string& line) {
    const auto event = nlohmann::json::parse(line, nullptr, false);
    if (!event.is_object()) {
      std::fprintf(stderr, "agentfense: skipping a line that is not a JSON object\n");
      return;
    }
    if (!args.filter.matches(event)) return;
    if (args.summary) {
      summary.add(event);
    } else {
      const std::string text = args.json ? line : audit::format_event(event);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fputc('\n', stdout);
      if (args.follow) std::fflush(stdout);
    }
  };
  if (!args.server.empty()) {
    fetch_server_trail({.base_url = args.server,
                        .sandbox = args.sandbox,
                        .api_key = args.api_key,
                        .ca_cert = args.ca_cert,
                        .filter = args.filter,
                        .follow = args.follow},
                       sink);
  } else {
    read_lines(args.file, args.follow, sink);
  }
  if (args.summary) {
    const std::string text = args.json ? summary.to_json().dump(2) + "\n" : summary.to_text();
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return 0;
}

}  // namespace

Command add_audit_command(CLI::App& app) {
  auto args = std::make_shared<AuditArgs>();
  CLI::App* cmd = app.add_subcommand(
      "audit", "Show an audit trail as a timeline or summary, follow it, or verify it");
  cmd->add_option("FILE", args->file, "Trail file (from run/mount --audit)");
  cmd->add_option("--server", args->server,
                  "Read the trail of --sandbox from the server's REST address instead");
  cmd->add_option("--sandbox", args->sandbox, "Sandbox id (with --server)");
  // --token and $AGENTFENSE_TOKEN: the first version's names, kept working.
  cmd->add_option("--api-key,--token", args->api_key,
                  "API key for --server (or $AGENTFENSE_API_KEY), as `agentfense mcp` takes it");
  cmd->add_option("--ca-cert", args->ca_cert,
                  "With an https:// --server: the PEM CA to trust (default: the system's roots)");
  cmd->add_flag("--follow,-f", args->follow, "Keep printing events as they are written");
  cmd->add_flag("--denied", args->denied, "Only denied attempts");
  cmd->add_option("--kind", args->filter.kind, "Only this kind: file, security or audit");
  cmd->add_option("--op", args->filter.op, "Only this operation (open_read, exec, ...)");
  cmd->add_option("--path", args->filter.path, "Only this path and what is below it");
  cmd->add_option("--since", args->filter.since, "Only events at or after this RFC 3339 time");
  cmd->add_flag("--json", args->json, "Print the JSON lines (or the summary as JSON)");
  cmd->add_flag("--summary", args->summary,
                "Files read, files written, denied attempts by path and commands run");
  CLI::App* verify =
      cmd->add_subcommand("verify",
                          "Check a trail's hash chain: exit 1 naming the first edited, removed or "
                          "inserted line");
  verify->add_option("FILE", args->verify_file, "Trail file")->required();
  return [args] { return run_audit(*args); };
}

}  // namespace agentfense::cli
