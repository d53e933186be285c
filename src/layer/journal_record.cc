#include "layer/journal_record.h"

#include <charconv>
#include <vector>

#include "layer/path_escape.h"

namespace agentfense::layer {
namespace {

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos <= line.size()) {
    const size_t end = std::min(line.find(' ', pos), line.size());
    fields.push_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
  return fields;
}

template <typename Int>
bool parse_int(std::string_view text, Int& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

size_t field_count(RecordOp op) {
  switch (op) {
    case RecordOp::kStamp:
      return 6;
    case RecordOp::kRename:
      return 3;
    default:
      return 2;
  }
}

bool is_known(char op) {
  for (char known : {'W', 'O', 'X', 'S', 'F', 'R'}) {
    if (op == known) return true;
  }
  return false;
}

}  // namespace

std::string encode_record(const JournalRecord& record) {
  std::string line(1, static_cast<char>(record.op));
  line += ' ' + escape_bytes(record.path);
  if (record.op == RecordOp::kStamp || record.op == RecordOp::kRename) {
    line += ' ' + escape_bytes(record.second_path);
  }
  if (record.op == RecordOp::kStamp) {
    line += ' ' + std::to_string(record.stamp.ino) + ' ' + std::to_string(record.stamp.size) + ' ' +
            std::to_string(record.stamp.mtime_ns);
  }
  return line + '\n';
}

std::optional<JournalRecord> decode_record(std::string_view line) {
  const std::vector<std::string_view> fields = split_fields(line);
  if (fields.size() < 2 || fields[0].size() != 1 || !is_known(fields[0][0])) return std::nullopt;
  JournalRecord record{static_cast<RecordOp>(fields[0][0]), {}, {}, {}};
  if (fields.size() != field_count(record.op)) return std::nullopt;
  std::optional<std::string> path = unescape_bytes(fields[1]);
  if (!path) return std::nullopt;
  record.path = std::move(*path);
  if (fields.size() >= 3) {
    std::optional<std::string> second = unescape_bytes(fields[2]);
    if (!second) return std::nullopt;
    record.second_path = std::move(*second);
  }
  if (record.op == RecordOp::kStamp &&
      (!parse_int(fields[3], record.stamp.ino) || !parse_int(fields[4], record.stamp.size) ||
       !parse_int(fields[5], record.stamp.mtime_ns))) {
    return std::nullopt;
  }
  return record;
}

}  // namespace agentfense::layer
