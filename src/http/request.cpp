// Request helpers: the HttpError -> status table, header lookup and list-token matching
// (RFC 9110 §5.6.1 lists, §7.6.1 Connection).
#include "http/request.hpp"

#include <functional>
#include <iterator>

namespace herald::http {
namespace {

struct ErrorInfo {
    int status;
    const char* reason;
};

// Indexed by HttpError; the static_assert keeps it in step with the enum.
constexpr ErrorInfo error_table[] = {
    {200, "no error"},
    {400, "bad request"},
    {400, "bad header field"},
    {400, "bad Content-Length"},
    {400, "Transfer-Encoding with Content-Length"},
    {400, "bad chunked framing"},
    {400, "missing Host"},
    {400, "duplicate Host"},
    {400, "bad request-target"},
    {414, "request line too long"},
    {431, "header fields too large"},
    {413, "body too large"},
    {501, "unsupported Transfer-Encoding"},
    {505, "HTTP version not supported"},
    {417, "unsupported expectation"},
};
static_assert(std::size(error_table) == static_cast<std::size_t>(HttpError::expectation_failed) + 1,
              "error_table must have one entry per HttpError");

} // namespace

int status_of(HttpError e) noexcept { return error_table[static_cast<std::size_t>(e)].status; }

const char* reason_of(HttpError e) noexcept {
    return error_table[static_cast<std::size_t>(e)].reason;
}

std::string_view Request::header(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < header_count; ++i)
        if (ascii::iequals(headers[i].name, name))
            return headers[i].value;
    return {};
}

bool Request::has_header(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < header_count; ++i)
        if (ascii::iequals(headers[i].name, name))
            return true;
    return false;
}

std::size_t Request::header_fields(std::string_view name) const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < header_count; ++i)
        if (iequals(headers[i].name, name)) ++n;
    return n;
}

void Request::rebase(std::string_view from, const char* to) noexcept {
    std::less_equal<const char*> le;  // a total order, also for pointers into other objects
    const char* end = from.data() + from.size();
    auto move = [&](std::string_view& v) {
        if (v.data() && le(from.data(), v.data()) && le(v.data() + v.size(), end))
            v = std::string_view(to + (v.data() - from.data()), v.size());
    };
    move(method_name);
    move(target);
    move(path);
    move(query);
    move(host);
    for (std::size_t i = 0; i < header_count; ++i) {
        move(headers[i].name);
        move(headers[i].value);
    }
}

} // namespace herald::http
