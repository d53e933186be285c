#include "server/enum_spellings.h"

#include <algorithm>

#include "common/ascii_case.h"

namespace agentfense::server {
namespace {

namespace pb = google::protobuf;
using nlohmann::json;

bool same_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// "PERMISSION_" for Permission: the longest prefix ending in '_' that every value name
// of the type shares (empty when they share none).
std::string_view common_prefix(const pb::EnumDescriptor& type) {
  std::string_view prefix = type.value(0)->name();
  for (int i = 1; i < type.value_count(); ++i) {
    const std::string& name = type.value(i)->name();
    std::size_t n = 0;
    while (n < prefix.size() && n < name.size() && prefix[n] == name[n]) ++n;
    prefix = prefix.substr(0, n);
  }
  const std::size_t underscore = prefix.rfind('_');
  return underscore == std::string_view::npos ? std::string_view()
                                              : prefix.substr(0, underscore + 1);
}

bool is_unspecified(const pb::EnumValueDescriptor& value) {
  return value.number() == 0 && value.name().ends_with("_UNSPECIFIED");
}

bool normalize_value(json& value, const pb::FieldDescriptor& field) {
  if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_ENUM) {
    if (!value.is_string()) return false;
    const std::string& text = value.get_ref<const std::string&>();
    const pb::EnumValueDescriptor* found = FindEnumValue(*field.enum_type(), text);
    if (!found || found->name() == text) return false;
    value = found->name();
    return true;
  }
  // Well-known types (Duration, Timestamp) have string forms of their own.
  if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE && value.is_object() &&
      field.message_type()->file()->package() != "google.protobuf") {
    return NormalizeEnumSpellings(value, *field.message_type());
  }
  return false;
}

const pb::FieldDescriptor* field_named(const pb::Descriptor& type, const std::string& key) {
  for (int i = 0; i < type.field_count(); ++i) {
    const pb::FieldDescriptor* field = type.field(i);
    if (field->name() == key || field->json_name() == key) return field;
  }
  return nullptr;
}

}  // namespace

const pb::EnumValueDescriptor* FindEnumValue(const pb::EnumDescriptor& type,
                                             std::string_view text) {
  if (const pb::EnumValueDescriptor* exact = type.FindValueByName(std::string(text))) return exact;
  const std::string_view prefix = common_prefix(type);
  for (int i = 0; i < type.value_count(); ++i) {
    const pb::EnumValueDescriptor* value = type.value(i);
    const std::string_view name = value->name();
    if (same_ignoring_case(text, name) ||
        (!prefix.empty() && same_ignoring_case(text, name.substr(prefix.size())))) {
      return value;
    }
  }
  return nullptr;
}

std::string EnumSpellings(const pb::EnumDescriptor& type) {
  const std::string_view prefix = common_prefix(type);
  std::string short_forms, names;
  for (int i = 0; i < type.value_count(); ++i) {
    const pb::EnumValueDescriptor& value = *type.value(i);
    if (is_unspecified(value)) continue;
    const std::string separator = short_forms.empty() ? "" : ", ";
    short_forms += separator + ascii_lower(std::string_view(value.name()).substr(prefix.size()));
    names += separator + value.name();
  }
  return short_forms + " (any case, or " + names + ")";
}

bool NormalizeEnumSpellings(json& body, const pb::Descriptor& type) {
  if (!body.is_object()) return false;
  bool changed = false;
  for (auto& [key, value] : body.items()) {
    const pb::FieldDescriptor* field = field_named(type, key);
    if (!field) continue;  // the parser names unknown fields
    if (field->is_map()) {
      if (!value.is_object()) continue;
      const pb::FieldDescriptor& mapped = *field->message_type()->map_value();
      for (auto& [map_key, map_value] : value.items()) {
        changed = normalize_value(map_value, mapped) || changed;
      }
    } else if (field->is_repeated()) {
      if (!value.is_array()) continue;
      for (json& element : value) changed = normalize_value(element, *field) || changed;
    } else {
      changed = normalize_value(value, *field) || changed;
    }
  }
  return changed;
}

}  // namespace agentfense::server
