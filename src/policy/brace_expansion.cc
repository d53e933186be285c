#include "policy/brace_expansion.h"

#include "common/errors.h"
#include "policy/char_class.h"

namespace agentfense::policy {
namespace {

constexpr int kMaxNesting = 32;

class BraceExpander {
 public:
  explicit BraceExpander(std::string_view pattern) : text_(pattern) {}

  std::vector<std::string> expand_all() {
    std::vector<std::string> results = expand_sequence(0);
    if (pos_ < text_.size()) throw UserError("unmatched '}'");
    return results;
  }

 private:
  // Expands text from pos_ up to the end, or (inside a group) up to the ',' or '}' that
  // ends the current alternative, which is left for the caller.
  std::vector<std::string> expand_sequence(int depth) {
    std::vector<std::string> results{""};
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (depth > 0 && (c == ',' || c == '}')) break;
      if (c == '}') break;  // at top level: reported by expand_all
      if (c == '{') {
        ++pos_;
        results = cartesian_product(results, expand_group(depth + 1));
      } else {
        const std::size_t length = verbatim_length();
        check_bytes(total_bytes(results) + results.size() * length);
        append_to_all(results, text_.substr(pos_, length));
        pos_ += length;
      }
    }
    return results;
  }

  // Called just past a '{'; consumes through the matching '}'.
  std::vector<std::string> expand_group(int depth) {
    if (depth > kMaxNesting) throw UserError("'{' groups nested too deeply");
    std::vector<std::string> alternatives;
    for (;;) {
      std::vector<std::string> alternative = expand_sequence(depth);
      alternatives.insert(alternatives.end(), alternative.begin(), alternative.end());
      check_count(alternatives.size());
      check_bytes(total_bytes(alternatives));
      if (pos_ >= text_.size()) throw UserError("unterminated '{'");
      const char delimiter = text_[pos_++];
      if (delimiter == '}') return alternatives;
    }
  }

  // Length of the token at pos_ that must be copied as a unit: an escape pair, a whole
  // character class, or one byte. Unterminated classes and trailing backslashes are
  // copied as single bytes; the glob parser reports them with a better message.
  std::size_t verbatim_length() const {
    if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) return 2;
    if (text_[pos_] == '[') {
      const std::size_t end = char_class_end(text_, pos_);
      if (end != std::string_view::npos) return end - pos_;
    }
    return 1;
  }

  static void append_to_all(std::vector<std::string>& results, std::string_view suffix) {
    for (std::string& result : results) result += suffix;
  }

  static std::vector<std::string> cartesian_product(const std::vector<std::string>& prefixes,
                                                    const std::vector<std::string>& suffixes) {
    check_count(prefixes.size() * suffixes.size());
    check_bytes(total_bytes(prefixes) * suffixes.size() + total_bytes(suffixes) * prefixes.size());
    std::vector<std::string> product;
    product.reserve(prefixes.size() * suffixes.size());
    for (const std::string& prefix : prefixes) {
      for (const std::string& suffix : suffixes) product.push_back(prefix + suffix);
    }
    return product;
  }

  static std::size_t total_bytes(const std::vector<std::string>& texts) {
    std::size_t total = 0;
    for (const std::string& text : texts) total += text.size();
    return total;
  }

  static void check_bytes(std::size_t bytes) {
    if (bytes > kMaxBraceExpandedBytes) {
      throw UserError("'{...}' alternatives longer than " + std::to_string(kMaxBraceExpandedBytes) +
                      " bytes in all");
    }
  }

  static void check_count(std::size_t count) {
    if (count > kMaxBraceAlternatives) {
      throw UserError("more than " + std::to_string(kMaxBraceAlternatives) +
                      " '{...}' alternatives");
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<std::string> expand_braces(std::string_view pattern) {
  return BraceExpander(pattern).expand_all();
}

}  // namespace agentfense::policy
