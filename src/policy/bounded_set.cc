#include "policy/bounded_set.h"

#include "policy/re2_options.h"

namespace agentfense::policy {
namespace {

std::unique_ptr<re2::RE2::Set> new_set(std::int64_t max_mem) {
  return std::make_unique<re2::RE2::Set>(path_regex_options(max_mem), re2::RE2::ANCHOR_BOTH);
}

// Whether `set` compiled and its DFA can run: a DFA that cannot hold a few states of the
// program fails every match (a set has no NFA to fall back to).
bool runs(re2::RE2::Set& set) {
  if (!set.Compile()) return false;
  re2::RE2::Set::ErrorInfo error{};
  std::vector<int> matches;
  return set.Match("", &matches, &error) || error.kind == re2::RE2::Set::kNoError;
}

}  // namespace

BoundedSet::BoundedSet() : set_(new_set(kSetMemory)) {}

bool BoundedSet::add(std::string_view regex, std::string* error) {
  if (set_->Add(regex, error) < 0) return false;
  regexes_.emplace_back(regex);
  return true;
}

bool BoundedSet::compile() {
  if (runs(*set_)) {
    regexes_ = {};
    return true;
  }
  set_ = new_set(kLargeMemory);
  for (const std::string& regex : regexes_) set_->Add(regex, nullptr);  // parsed before
  regexes_ = {};
  return runs(*set_);
}

bool BoundedSet::match(std::string_view text, std::vector<int>* matches,
                       re2::RE2::Set::ErrorInfo* error) const {
  return set_->Match(text, matches, error);
}

}  // namespace agentfense::policy
