#include "server/json_body_errors.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/user_text.h"
#include "server/api.h"
#include "server/enum_spellings.h"

namespace agentfense::server {
namespace {

namespace pb = google::protobuf;
using nlohmann::json;

[[noreturn]] void fail(const std::string& message) {
  throw ApiError(StatusCode::INVALID_ARGUMENT, message, kReasonInvalidRequest);
}

// The parser's own words, on one line and without the caret line it draws.
std::string detail_of(std::string_view text) {
  std::string line(text.substr(0, text.find('\n')));
  while (!line.empty() && (line.back() == ' ' || line.back() == '.')) line.pop_back();
  return escape_user_text(line);
}

// The key of the innermost `"key": ...` that starts before `offset`, for "in the value
// of" hints; empty when there is none. A heuristic over raw text: the body is not JSON
// we can parse at this point.
std::string key_before(std::string_view body, std::size_t offset) {
  std::size_t colon = body.rfind(':', offset);
  while (colon != std::string_view::npos) {
    std::size_t end = body.find_last_not_of(" \t\r\n", colon == 0 ? 0 : colon - 1);
    if (end != std::string_view::npos && body[end] == '"') {
      const std::size_t start = body.rfind('"', end == 0 ? 0 : end - 1);
      if (start != std::string_view::npos && start < end)
        return std::string(body.substr(start + 1, end - start - 1));
    }
    if (colon == 0) break;
    colon = body.rfind(':', colon - 1);
  }
  return {};
}

const pb::FieldDescriptor* field_named(const pb::Descriptor& type, const std::string& key) {
  for (int i = 0; i < type.field_count(); ++i) {
    const pb::FieldDescriptor* field = type.field(i);
    if (field->name() == key || field->json_name() == key) return field;
  }
  return nullptr;
}

bool parses_as(const json& object, const pb::Descriptor& type, std::string* detail = nullptr) {
  const std::unique_ptr<pb::Message> message(
      pb::MessageFactory::generated_factory()->GetPrototype(&type)->New());
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = pb::util::JsonStringToMessage(object.dump(), message.get(), options);
  if (!status.ok() && detail) *detail = std::string(status.message());
  return status.ok();
}

bool is_plain_message(const pb::FieldDescriptor& field) {
  // Well-known types (Duration, Timestamp...) have their own JSON forms: report the
  // field itself, not a path into their internals.
  return field.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE && !field.is_map() &&
         field.message_type()->file()->package() != "google.protobuf";
}

struct Culprit {
  std::string path;
  std::string detail;
  bool unknown = false;
};

// The first field of `object` (a JSON object for `type`) that does not parse.
std::optional<Culprit> find_culprit(const json& object, const pb::Descriptor& type,
                                    const std::string& prefix) {
  for (const auto& [key, value] : object.items()) {
    const std::string path = prefix + key;
    const pb::FieldDescriptor* field = field_named(type, key);
    if (!field) return Culprit{path, "", true};
    std::string detail;
    if (parses_as(json{{key, value}}, type, &detail)) continue;
    if (is_plain_message(*field) && !field->is_repeated() && value.is_object()) {
      if (auto inner = find_culprit(value, *field->message_type(), path + ".")) return inner;
    }
    if (is_plain_message(*field) && field->is_repeated() && value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string element = path + "[" + std::to_string(i) + "]";
        if (!value[i].is_object()) return Culprit{element, "not a JSON object"};
        if (auto inner = find_culprit(value[i], *field->message_type(), element + "."))
          return inner;
      }
    }
    if (field->is_map() && value.is_object()) {
      for (const auto& [map_key, map_value] : value.items()) {
        std::string entry_detail;
        if (!parses_as(json{{key, {{map_key, map_value}}}}, type, &entry_detail))
          return Culprit{path + "." + map_key, entry_detail};
      }
    }
    if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_ENUM && !field->is_repeated() &&
        value.is_string()) {
      detail = "'" + value.get<std::string>() + "' is not a " + field->enum_type()->name() +
               " value; use " + EnumSpellings(*field->enum_type());
    }
    return Culprit{path, detail};
  }
  return std::nullopt;
}

const char* kind_of(const json& value) {
  if (value.is_array()) return "an array";
  if (value.is_string()) return "a string";
  if (value.is_number()) return "a number";
  if (value.is_boolean()) return "a boolean";
  return "null";
}

}  // namespace

void ThrowJsonBodyError(std::string_view body, const pb::Message& type,
                        std::string_view parser_detail) {
  const std::string type_name = type.GetDescriptor()->name();
  if (const std::size_t bad = first_invalid_utf8(body); bad != std::string_view::npos) {
    const std::string key = key_before(body, bad);
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(body[bad]));
    fail("request body for " + type_name + " is not valid UTF-8 (byte " + std::string(byte) +
         " at offset " + std::to_string(bad) +
         (key.empty() ? std::string() : ", in the value of \"" + escape_user_text(key) + "\"") +
         "): JSON text must be UTF-8; send binary data base64-encoded in a bytes field");
  }
  json parsed;
  try {
    parsed = json::parse(body);
  } catch (const json::parse_error& error) {
    // what(): "[json.exception.parse_error.101] parse error at line 1, column 2: <why>;
    // last read: '<input>'"; keep the position and the why, drop the echoed input.
    std::string why = error.what();
    if (const auto at = why.find("parse error at "); at != std::string::npos) why.erase(0, at + 15);
    if (const auto echo = why.find("; last read:"); echo != std::string::npos) {
      const auto expected = why.find(';', echo + 1);
      why.erase(echo, expected == std::string::npos ? std::string::npos : expected - echo);
    }
    fail("request body for " + type_name + " is not valid JSON (" + detail_of(why) + ")");
  } catch (const json::out_of_range& error) {
    // "[json.exception.out_of_range.406] number overflow parsing '1e400'": a number no
    // double holds, which protobuf refuses too.
    std::string why = error.what();
    if (const auto end = why.find("] "); end != std::string::npos) why.erase(0, end + 2);
    fail("request body for " + type_name + " holds a number out of range (" + detail_of(why) + ")");
  }
  if (!parsed.is_object())
    fail("request body must be a JSON object ({...}) for " + type_name + ", got " +
         kind_of(parsed));
  if (auto culprit = find_culprit(parsed, *type.GetDescriptor(), "")) {
    if (culprit->unknown)
      fail("unknown field '" + escape_user_text(culprit->path) + "' in " + type_name +
           " (field names are the proto names or their lowerCamelCase JSON names)");
    fail("invalid value for field '" + escape_user_text(culprit->path) + "' of " + type_name +
         (culprit->detail.empty() ? std::string() : ": " + detail_of(culprit->detail)));
  }
  fail("request body is not a valid " + type_name + ": " + detail_of(parser_detail));
}

}  // namespace agentfense::server
