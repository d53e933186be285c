#include "common/json_shape.h"

#include <nlohmann/json.hpp>
#include <set>
#include <vector>

namespace agentfense {
namespace {

using json = nlohmann::json;

// SAX events only: no document is built, and the walk stops at the first issue.
class ShapeChecker {
 public:
  explicit ShapeChecker(std::size_t max_values) : max_values_(max_values) {}
  std::optional<JsonShapeIssue> found;

  bool null() { return value(); }
  bool boolean(bool) { return value(); }
  bool number_integer(json::number_integer_t) { return value(); }
  bool number_unsigned(json::number_unsigned_t) { return value(); }
  bool number_float(json::number_float_t, const json::string_t&) { return value(); }
  bool string(json::string_t&) { return value(); }
  bool binary(json::binary_t&) { return value(); }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& name) {
    Frame& frame = frames_.back();
    frame.key = name;
    if (frame.keys.insert(name).second) return true;
    found = JsonShapeIssue{JsonShapeIssue::Kind::kDuplicateKey, path()};
    return false;
  }
  bool parse_error(std::size_t, const std::string&, const json::exception&) { return false; }

 private:
  struct Frame {
    bool object;
    std::set<std::string> keys;  // object: the keys seen so far
    std::string key;             // object: the member being read
    std::size_t index = 0;       // array: the element being read
  };

  bool open(bool object) {
    if (!count()) return false;
    frames_.push_back(Frame{object, {}, {}, 0});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return next();  // the closed container was one value of its parent (counted at open)
  }
  // A scalar value: counted, then as every value it moves an array to its next element.
  bool value() { return count() && next(); }
  bool next() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
    return true;
  }
  bool count() {
    if (++values_ <= max_values_) return true;
    found = JsonShapeIssue{JsonShapeIssue::Kind::kTooManyValues, path()};
    return false;
  }
  std::string path() const {
    std::string out;
    for (const Frame& frame : frames_) {
      if (frame.object) {
        if (!out.empty()) out += '.';
        out += frame.key;
      } else {
        out += "[" + std::to_string(frame.index) + "]";
      }
    }
    return out;
  }

  std::vector<Frame> frames_;
  std::size_t max_values_;
  std::size_t values_ = 0;
};

}  // namespace

std::optional<JsonShapeIssue> first_json_shape_issue(std::string_view text,
                                                     std::size_t max_values) {
  ShapeChecker checker(max_values);
  (void)json::sax_parse(text, &checker);  // false: stopped at an issue or a parse error
  return checker.found;
}

}  // namespace agentfense
