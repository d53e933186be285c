#include "cli/run_audit.h"

#include <unistd.h>

#include "policy/policy_file.h"

namespace agentfense::cli {
namespace {

std::string command_text(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& arg : argv) text += (text.empty() ? "" : " ") + arg;
  return text;
}

}  // namespace

RunAudit::RunAudit(const std::string& path, std::string sandbox)
    : trail_(path, std::move(sandbox)) {}

void RunAudit::write(audit::Event event) {
  event.kind = audit::kKindSecurity;
  const audit::Event events[] = {std::move(event)};
  trail_.append(events);
  trail_.sync();
}

void RunAudit::created(const std::vector<policy::Rule>& rules, const runtime::ExecSpec& spec) {
  audit::Event event;
  event.op = "sandbox_created";
  event.details = {
      {"caller", "uid:" + std::to_string(::getuid())},
      {"runtime", "bwrap"},
      {"rules", nlohmann::ordered_json::parse(policy::rules_to_json(rules))},
      {"limits",
       {{"memory_bytes", spec.limits.memory_bytes},
        {"pids", spec.limits.pids_limit},
        {"timeout_ms",
         std::chrono::duration_cast<std::chrono::milliseconds>(spec.timeout).count()}}},
      {"network", spec.network}};
  write(std::move(event));
}

void RunAudit::finished(const runtime::ExecSpec& spec, const runtime::ExecResult& result,
                        const std::string& changes, bool changes_ok) {
  audit::Event exec;
  exec.op = "exec";
  exec.details = {{"command", command_text(spec.argv)},
                  {"workdir", spec.workdir},
                  {"exit_code", result.exit_code},
                  {"duration_ms",
                   std::chrono::duration_cast<std::chrono::milliseconds>(result.duration).count()},
                  {"timed_out", result.timed_out},
                  {"oom_killed", result.oom_killed},
                  {"pids_limit_reached", result.pids_limit_reached}};
  write(std::move(exec));
  audit::Event review;
  review.op = changes == "apply" ? "commit" : changes == "discard" ? "discard" : "changes_shown";
  review.details = {{"ok", changes_ok}};
  write(std::move(review));
  audit::Event destroyed;
  destroyed.op = "sandbox_destroyed";
  write(std::move(destroyed));
}

}  // namespace agentfense::cli
