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

bool field_count_fits(RecordOp op, size_t count) {
  switch (op) {
    case RecordOp::kStamp:
      return count == 6;
    case RecordOp::kRename:
    case RecordOp::kRenameKeepingSeen:
    case RecordOp::kRenameLeavingSeen:
      return count == 3;
    case RecordOp::kReplaced:  // the path, then the version replaced if there was one
      return count == 2 || count == 5;
    default:
      return count == 2;
  }
}

std::string encode_stamp(const BaseStamp& stamp) {
  return ' ' + std::to_string(stamp.ino) + ' ' + std::to_string(stamp.size) + ' ' +
         std::to_string(stamp.mtime_ns);
}

std::optional<BaseStamp> decode_stamp(std::string_view ino, std::string_view size,
                                      std::string_view mtime_ns) {
  BaseStamp stamp{};
  if (!parse_int(ino, stamp.ino) || !parse_int(size, stamp.size) ||
      !parse_int(mtime_ns, stamp.mtime_ns)) {
    return std::nullopt;
  }
  return stamp;
}

bool is_known(char op) {
  for (char known : {'W', 'O', 'X', 'S', 'F', 'R', 'D', 'K', 'L'}) {
    if (op == known) return true;
  }
  return false;
}

}  // namespace

std::string encode_record(const JournalRecord& record) {
  std::string line(1, static_cast<char>(record.op));
  line += ' ' + escape_bytes(record.path);
  if (record.op == RecordOp::kStamp || record.op == RecordOp::kRename ||
      record.op == RecordOp::kRenameKeepingSeen || record.op == RecordOp::kRenameLeavingSeen) {
    line += ' ' + escape_bytes(record.second_path);
  }
  if ((record.op == RecordOp::kStamp || record.op == RecordOp::kReplaced) && record.stamp) {
    line += encode_stamp(*record.stamp);
  }
  return line + '\n';
}

std::optional<JournalRecord> decode_record(std::string_view line) {
  const std::vector<std::string_view> fields = split_fields(line);
  if (fields.size() < 2 || fields[0].size() != 1 || !is_known(fields[0][0])) return std::nullopt;
  JournalRecord record{static_cast<RecordOp>(fields[0][0]), {}, {}, {}};
  if (!field_count_fits(record.op, fields.size())) return std::nullopt;
  std::optional<std::string> path = unescape_bytes(fields[1]);
  if (!path) return std::nullopt;
  record.path = std::move(*path);
  if (record.op == RecordOp::kReplaced) {
    if (fields.size() == 2) return record;
    record.stamp = decode_stamp(fields[2], fields[3], fields[4]);
    return record.stamp ? std::optional(std::move(record)) : std::nullopt;
  }
  if (fields.size() >= 3) {
    std::optional<std::string> second = unescape_bytes(fields[2]);
    if (!second) return std::nullopt;
    record.second_path = std::move(*second);
  }
  if (record.op == RecordOp::kStamp) {
    record.stamp = decode_stamp(fields[3], fields[4], fields[5]);
    if (!record.stamp) return std::nullopt;
  }
  return record;
}

}  // namespace agentfense::layer
