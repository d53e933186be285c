// The policy engine: a compiled list of rules that answers "what level does this path
// have, and which rule decided it". Pure: no I/O, no global state, thread-safe for
// concurrent decide() calls after compile().
//
// Contract (DESIGN.md "Policy semantics"):
//  * patterns anchored at the root, leading "/" optional; "*" and "?" never cross "/";
//    "**" matches zero or more whole segments; "[...]" classes and "{a,b}" work;
//    "/dir/**" also matches "/dir"; trailing "/" means type directory. Unlike the shell,
//    "*" matches names starting with "." (so "**/*" means everything). Full syntax in
//    glob.h. Directory-type patterns are globs too; file-type patterns are literal.
//  * precedence: higher priority; then file > directory > glob; then longer literal
//    prefix; then the later rule in the list.
//  * nothing matches -> kNone (fail closed).
//  * invalid rules are rejected by compile() with a UserError naming the rule (index
//    and pattern).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "policy/compile_budget.h"
#include "policy/level.h"
#include "policy/rule.h"

namespace agentfense::policy {

struct Decision {
  // The path's own level from the winning rule (kNone when no rule matched).
  Level level = Level::kNone;
  // Index into Policy::rules() of the winning rule, or -1 when no rule matched.
  int rule = -1;
  // Only meaningful for directories: true when some rule granting more than kNone could
  // match a path strictly beneath this directory *and win there* as far as the patterns
  // alone can tell. The filesystem uses it to show a kNone/kView directory as a
  // traversable directory listing only its visible children (after checking that such a
  // child really exists).
  bool descendants_may_be_visible = false;
  // Only meaningful for directories: true when a name directly in this directory may
  // have level kWrite (some write rule may match a child and no rule that outranks it
  // covers the whole subtree at another level). Creating, removing or renaming a name is
  // decided by the name's own level, but the kernel checks the *parent's* presented mode
  // bits first, so the filesystem presents such a directory writable whatever its own
  // level; the daemon still refuses each name whose level is below kWrite.
  bool children_may_be_writable = false;
};

class Policy {
 public:
  // Validates and compiles; throws agentfense::UserError naming the first bad rule,
  // e.g. `rule 3 ("src/[a-"): unterminated character class`, or the first rule past a
  // bound of compile_budget.h.
  static Policy compile(std::vector<Rule> rules);
  // The same decisions without the reach index (reach_regex.h): every directory lookup
  // walks every rule. For tests that check the index changes no decision.
  static Policy compile_unindexed(std::vector<Rule> rules);

  Policy(Policy&&) noexcept;
  Policy& operator=(Policy&&) noexcept;
  ~Policy();

  // Steady-state cost: one RE2::Set match over all rules and no allocation; for a
  // directory, two more set matches pick the rules that may reach below it, and each of
  // those adds a segment walk (microseconds), so callers should cache decisions per inode.
  // `path` is a normalized absolute workspace path: "/" or "/a/b" (no trailing "/",
  // no "." or ".." segments, no empty segments). Use normalize_path() first for user
  // input. `is_dir` selects whether directory-type rules can match the path itself.
  Decision decide(std::string_view path, bool is_dir) const;

  const std::vector<Rule>& rules() const;

  // Questions about the rules themselves, for analyses such as shadowed_none.h.
  // Indices of every rule matching `path` (same form as decide()), in list order.
  std::vector<int> matching_rules(std::string_view path, bool is_dir) const;
  // True when rule `a` wins over rule `b` wherever both match (the precedence order).
  bool outranks(int a, int b) const;
  // True when rule `rule` may match some path strictly beneath directory `dir_path`
  // (conservative: false only when its pattern rules that out).
  bool may_match_below(int rule, std::string_view dir_path) const;
  // True unless every path strictly beneath directory `dir_path` is certainly at least
  // `read`, as far as the patterns alone can tell: a commit refuses a symlink to such a
  // directory, which would carry what the sandbox cannot see to whoever follows it.
  bool below_may_be_unreadable(std::string_view dir_path) const;

 private:
  struct Compiled;
  explicit Policy(std::unique_ptr<Compiled> compiled);
  static Policy compile(std::vector<Rule> rules, bool index_reach);
  std::unique_ptr<Compiled> compiled_;
};

// What compile() and RuleChecker throw for a rule they refuse: what() names the rule
// (`rule 3 ("src/[a-"): why`), why() is the reason alone, for callers that name the rule
// their own way.
class RuleError : public UserError {
 public:
  RuleError(const std::string& message, std::string why)
      : UserError(message), why_(std::move(why)) {}
  const std::string& why() const { return why_; }

 private:
  std::string why_;
};

// A rule's pattern as error messages show it: whole up to 100 bytes, else its first 100
// and its length ("src/aaa... (5000 bytes)"), so that the reason after it survives any
// cut of the message. Not escaped: each caller makes it printable its own way.
std::string shown_pattern(const std::string& pattern);

// Checks rules one at a time as Policy::compile would, against one shared budget: for a
// caller that names the bad rule in its own terms (the API's permissions[i]). Checking
// each rule alone instead let N rules cost N times what one rule may.
class RuleChecker {
 public:
  // Throws UserError as compile() would for the next rule of the list.
  void check(const Rule& rule);

 private:
  CompileBudget spent_;
  int checked_ = 0;
};

// Normalizes user-supplied workspace paths: adds the leading "/", collapses "//" and
// "/./", strips a trailing "/". ".." segments are rejected (UserError) rather than
// resolved, since a policy path never needs them.
std::string normalize_path(std::string_view path);

}  // namespace agentfense::policy
