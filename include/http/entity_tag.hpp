// Entity-tag lists of If-Match and If-None-Match (RFC 9110 §8.8.3, §13.1.1, §13.1.2): the one
// walker that static files' conditional requests and the push resume point both use.
#pragma once

#include <string_view>

#include "core/ascii.hpp"

namespace herald::http {

// Calls fn(tag, weak) for each member of a comma-separated list, in order: tag is the member
// with OWS trimmed and a "W/" prefix removed (weak says whether it had one), quotes kept; "*"
// is passed as it is. Stops at the first call that returns true and returns true then.
template <class F>
bool any_entity_tag(std::string_view list, F&& fn) {
    return ascii::any_element(list, [&fn](std::string_view tag) {
        const bool weak = tag.substr(0, 2) == "W/";
        if (weak) tag.remove_prefix(2);
        return !tag.empty() && fn(tag, weak);
    });
}

} // namespace herald::http
