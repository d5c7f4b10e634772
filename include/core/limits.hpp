// Compile-time caps shared across modules: the config loader refuses values above them and the
// code that sizes fixed arrays by them relies on that.
#pragma once

#include <cstddef>

namespace herald {

// Most header fields a request can carry: the upper bound of the max_headers directive and the
// size of http::Request's header array (the configured 431 limit may be lower).
inline constexpr std::size_t max_headers = 128;

} // namespace herald
