// How data flows through a streaming call without either side knowing the transport:
// the producer calls `emit` once per piece (false once the consumer has gone: stop);
// the consumer pulls with `next` (false at the end of the stream). The server's API and
// the store's uploads/downloads share them.
#pragma once

#include <functional>

namespace agentfense {

template <typename T>
using Emit = std::function<bool(const T&)>;
template <typename T>
using Next = std::function<bool(T&)>;

}  // namespace agentfense
