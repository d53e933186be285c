// Identifiers the store hands out: "<prefix><16 random hex digits>" (64 bits from the
// kernel CSPRNG), unguessable so that knowing one id reveals nothing about the others.
// The prefix carries its own separator: new_id("cb_") -> "cb_3f9a...".
#pragma once

#include <string>
#include <string_view>

namespace agentfense::store {

std::string new_id(std::string_view prefix);

}  // namespace agentfense::store
