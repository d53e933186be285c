#include "server/request_wire_check.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <string>
#include <unordered_map>

#include "server/api.h"

namespace agentfense::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// The parser's own default nesting limit: deeper input fails to parse anyway.
constexpr int kMaxDepth = 100;

class EntryCount {
 public:
  EntryCount(const Descriptor& request, std::size_t limit) : request_(request), limit_(limit) {}

  // Walks the fields up to the end of the input (or of the current limit), or up to
  // `end_group` inside a group. False at malformed input: the scan stops there.
  bool Fields(CodedInputStream& in, const Descriptor* type, int depth, std::uint32_t end_group) {
    while (true) {
      const std::uint32_t tag = in.ReadTag();
      if (tag == 0) return end_group == 0;
      if (tag == end_group) return true;
      const FieldDescriptor* field =
          type == nullptr ? nullptr
                          : type->FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
      Count(field);
      if (!Skip(in, field, tag, depth)) return false;
    }
  }

 private:
  // Groups (unknown ones keep everything inside) and known sub-messages are walked, so
  // their entries count too; anything else is one entry and skipped without a copy.
  bool Skip(CodedInputStream& in, const FieldDescriptor* field, std::uint32_t tag, int depth) {
    const auto wire_type = WireFormatLite::GetTagWireType(tag);
    if (wire_type == WireFormatLite::WIRETYPE_START_GROUP) {
      if (depth >= kMaxDepth) return false;
      const std::uint32_t end = WireFormatLite::MakeTag(WireFormatLite::GetTagFieldNumber(tag),
                                                        WireFormatLite::WIRETYPE_END_GROUP);
      return Fields(in, nullptr, depth + 1, end);
    }
    const bool sub_message = field != nullptr && field->type() == FieldDescriptor::TYPE_MESSAGE &&
                             wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (!sub_message) return WireFormatLite::SkipField(&in, tag);
    if (depth >= kMaxDepth) return false;
    std::uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return false;
    const auto outer = in.PushLimit(static_cast<int>(length));
    const bool ok = Fields(in, field->message_type(), depth + 1, 0) && in.BytesUntilLimit() == 0;
    in.PopLimit(outer);
    return ok;
  }

  void Count(const FieldDescriptor* field) {
    if (field == nullptr) {
      if (++unknown_ > limit_)
        throw ApiError(StatusCode::INVALID_ARGUMENT,
                       "the " + request_.full_name() + " holds more than " +
                           std::to_string(limit_) +
                           " fields this server does not know; the limit is " +
                           std::to_string(limit_) + " (counted before the request is parsed)",
                       kReasonRequestTooLarge);
      return;
    }
    if (!field->is_repeated()) return;
    if (++entries_[field] > limit_)
      throw ApiError(StatusCode::INVALID_ARGUMENT,
                     field->name() + " has more than " + std::to_string(limit_) +
                         " entries; the limit is " + std::to_string(limit_) +
                         " (counted before the request is parsed)",
                     kReasonRequestTooLarge);
  }

  const Descriptor& request_;
  const std::size_t limit_;
  std::unordered_map<const FieldDescriptor*, std::size_t> entries_;
  std::size_t unknown_ = 0;
};

}  // namespace

void CheckRepeatedCounts(google::protobuf::io::ZeroCopyInputStream& wire, const Descriptor& type,
                         std::size_t limit) {
  CodedInputStream in(&wire);
  EntryCount(type, limit).Fields(in, &type, 0, 0);
}

}  // namespace agentfense::server
