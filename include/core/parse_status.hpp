// The outcome of one feed() of an incremental parser (STYLE §6), shared by every parser that
// reports it (the HTTP head and chunked parsers, the WebSocket frame parser, the RESP parser).
// need_more is control flow, not an error: feed the unconsumed input again with more bytes.
#pragma once

#include <cstdint>

namespace herald {

enum class ParseStatus : std::uint8_t { done, need_more, error };

} // namespace herald
