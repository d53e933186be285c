// One line of STATE/journal: the text encoding of a single bookkeeping operation.
// Format documented in src/layer/README.md.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "layer/journal.h"

namespace agentfense::layer {

enum class RecordOp : char {
  kWhiteout = 'W',
  kOpaque = 'O',
  kClearMarkers = 'X',
  kStamp = 'S',
  kForgetStamp = 'F',
  kRename = 'R',
  kReplaced = 'D',
  kRenameKeepingSeen = 'K',
  kRenameLeavingSeen = 'L',
};

struct JournalRecord {
  RecordOp op;
  std::string path;
  std::string second_path;         // kStamp: the stamped base path; renames: the new prefix
  std::optional<BaseStamp> stamp;  // kStamp: always; kReplaced: nullopt for no base entry
};

// The record as one line, '\n' included.
std::string encode_record(const JournalRecord& record);

// Parses one line (without its '\n'); nullopt when malformed.
std::optional<JournalRecord> decode_record(std::string_view line);

}  // namespace agentfense::layer
