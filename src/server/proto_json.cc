#include "server/proto_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/json_depth.h"
#include "common/json_shape.h"
#include "server/api.h"
#include "server/enum_spellings.h"
#include "server/json_body_errors.h"

namespace agentfense::server {

namespace pb = google::protobuf;

namespace {

[[noreturn]] void BadParam(const std::string& name, const std::string& why) {
  throw ApiError(StatusCode::INVALID_ARGUMENT, "parameter '" + escape_user_text(name) + "': " + why,
                 kReasonInvalidRequest);
}

template <typename Int>
Int ParseInteger(const std::string& name, const std::string& text) {
  Int value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    BadParam(name, "'" + escape_user_text(text) + "' is not a valid integer");
  }
  return value;
}

double ParseDouble(const std::string& name, const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) {
    BadParam(name, "'" + escape_user_text(text) + "' is not a number");
  }
  return value;
}

bool ParseBool(const std::string& name, const std::string& text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  BadParam(name, "'" + escape_user_text(text) + "' is not true/false");
}

const pb::EnumValueDescriptor* ParseEnum(const pb::FieldDescriptor& field, const std::string& name,
                                         const std::string& text) {
  const pb::EnumDescriptor& type = *field.enum_type();
  if (const auto* value = FindEnumValue(type, text)) return value;
  if (!text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-')) {
    if (const auto* value = type.FindValueByNumber(ParseInteger<int>(name, text))) return value;
  }
  BadParam(name, "'" + escape_user_text(text) + "' is not a " + type.name() + " value; use " +
                     EnumSpellings(type));
}

}  // namespace

std::string MessageToJson(const pb::Message& message) {
  pb::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  const auto status = pb::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    // Only reachable with invalid Any/Duration contents, i.e. a bug in the service.
    throw ApiError(StatusCode::INTERNAL,
                   "cannot encode response as JSON: " + std::string(status.message()));
  }
  return out;
}

void MergeJsonIntoMessage(std::string_view json, pb::Message& message) {
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) return;
  // Explaining a refused body copies and prints it recursively (json_depth.h).
  if (json_nested_deeper_than(json)) {
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "request body for " + message.GetDescriptor()->name() +
                       " is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels",
                   kReasonInvalidRequest);
  }
  if (const std::optional<JsonShapeIssue> issue = first_json_shape_issue(json)) {
    const std::string type = message.GetDescriptor()->name();
    const std::string where = escape_user_text(issue->path);
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   issue->kind == JsonShapeIssue::Kind::kDuplicateKey
                       ? "request body for " + type + " gives '" + where +
                             "' twice; each field may appear once"
                       : "request body for " + type + " holds more than " +
                             std::to_string(kMaxJsonValues) + " JSON values (at '" + where +
                             "'); no request needs that many",
                   kReasonInvalidRequest);
  }
  // Enum values in the spellings users type ("read") become the names protobuf's JSON
  // parser knows ("PERMISSION_READ"). A body that is not JSON is left to the parser,
  // whose refusal is then explained.
  std::string rewritten;
  nlohmann::json parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded() && NormalizeEnumSpellings(parsed, *message.GetDescriptor())) {
    rewritten = parsed.dump();
    json = rewritten;
  }
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status =
      pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), &message, options);
  if (!status.ok()) ThrowJsonBodyError(json, message, std::string(status.message()));
}

void SetFieldFromText(pb::Message& message, const std::string& name, const std::string& value,
                      bool again) {
  const pb::Descriptor& type = *message.GetDescriptor();
  const pb::FieldDescriptor* field = type.FindFieldByName(name);
  if (field == nullptr) field = type.FindFieldByCamelcaseName(name);
  if (field == nullptr) BadParam(name, "unknown field of " + type.name());
  const pb::Reflection& r = *message.GetReflection();
  const bool rep = field->is_repeated();
  if (again && !rep) BadParam(name, "given more than once");
  using F = pb::FieldDescriptor;
  switch (field->cpp_type()) {
    case F::CPPTYPE_STRING:
      // proto3 strings are UTF-8: anything else would be stored, then break every
      // response that carries it (as the JSON body parser refuses it too).
      if (field->type() == F::TYPE_STRING && !is_valid_utf8(value))
        BadParam(name, "'" + escape_user_text(value) + "' is not valid UTF-8");
      rep ? r.AddString(&message, field, value) : r.SetString(&message, field, value);
      return;
    case F::CPPTYPE_INT32: {
      const auto v = ParseInteger<int32_t>(name, value);
      rep ? r.AddInt32(&message, field, v) : r.SetInt32(&message, field, v);
      return;
    }
    case F::CPPTYPE_INT64: {
      const auto v = ParseInteger<int64_t>(name, value);
      rep ? r.AddInt64(&message, field, v) : r.SetInt64(&message, field, v);
      return;
    }
    case F::CPPTYPE_UINT32: {
      const auto v = ParseInteger<uint32_t>(name, value);
      rep ? r.AddUInt32(&message, field, v) : r.SetUInt32(&message, field, v);
      return;
    }
    case F::CPPTYPE_UINT64: {
      const auto v = ParseInteger<uint64_t>(name, value);
      rep ? r.AddUInt64(&message, field, v) : r.SetUInt64(&message, field, v);
      return;
    }
    case F::CPPTYPE_DOUBLE: {
      const double v = ParseDouble(name, value);
      rep ? r.AddDouble(&message, field, v) : r.SetDouble(&message, field, v);
      return;
    }
    case F::CPPTYPE_FLOAT: {
      const auto v = static_cast<float>(ParseDouble(name, value));
      rep ? r.AddFloat(&message, field, v) : r.SetFloat(&message, field, v);
      return;
    }
    case F::CPPTYPE_BOOL: {
      const bool v = ParseBool(name, value);
      rep ? r.AddBool(&message, field, v) : r.SetBool(&message, field, v);
      return;
    }
    case F::CPPTYPE_ENUM: {
      const auto* v = ParseEnum(*field, name, value);
      rep ? r.AddEnum(&message, field, v) : r.SetEnum(&message, field, v);
      return;
    }
    case F::CPPTYPE_MESSAGE:
      BadParam(name, "a structured field cannot be set from the URL; send it in the body");
  }
}

std::string ErrorJson(StatusCode code, const std::string& message, const std::string& reason,
                      const std::string& result_json) {
  nlohmann::json body = {{"code", static_cast<int>(code)},
                         {"status", status_code_name(code)},
                         {"message", message},
                         {"reason", reason}};
  if (!result_json.empty()) body["result"] = nlohmann::json::parse(result_json);
  // replace: a message quoting a non-UTF-8 path must still produce a valid body.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace agentfense::server
