// The policy flags shared by `run`, `explain` and `mount`:
//   --preset NAME  --policy FILE  --rule PATTERN=LEVEL[:PRIORITY] (repeatable)
// Rules are concatenated preset, then file, then --rule flags, so a later source at the
// same priority overrides an earlier one. With no flag at all the preset is agent-safe:
// a CLI that silently exposed everything by default would fail open.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "policy/policy_file.h"

namespace agentfense::cli {

struct PolicyOptions {
  std::string preset;
  std::string policy_file;
  std::vector<std::string> rules;

  void add_to(CLI::App& app);
  // Throws UserError naming the bad preset, file or rule.
  std::vector<policy::Rule> collect() const;
  // The rules of collect(), compiled; throws as it does.
  policy::Policy compile() const;

 private:
  // `check_file`: compile the file's rules alone first, so that an error names it among
  // other sources.
  std::vector<policy::Rule> collect(bool check_file) const;
};

using policy::rules_to_json;

}  // namespace agentfense::cli
