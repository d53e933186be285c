// An RE2::Set over path texts whose memory is bounded (re2_options.h): compiled with
// kSetMemory, and again with kLargeMemory only when its program needs more.
#pragma once

#include <re2/set.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace agentfense::policy {

class BoundedSet {
 public:
  BoundedSet();
  // Adds `regex` as the next index; false (with `error`) when it does not parse.
  bool add(std::string_view regex, std::string* error);
  // Compiles what was added; false when even kLargeMemory is not enough.
  bool compile();
  // As RE2::Set::Match; false also when the automaton ran out of memory.
  bool match(std::string_view text, std::vector<int>* matches,
             re2::RE2::Set::ErrorInfo* error) const;

 private:
  std::vector<std::string> regexes_;  // kept until compiled, for a second try
  std::unique_ptr<re2::RE2::Set> set_;
};

}  // namespace agentfense::policy
