// Request helpers: the HttpError -> status table, header lookup and list-token matching
// (RFC 9110 §5.6.1 lists, §7.6.1 Connection).
#include "http/request.hpp"

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
    {405, "method not allowed"},
    {417, "unsupported expectation"},
};
static_assert(std::size(error_table) == static_cast<std::size_t>(HttpError::expectation_failed) + 1,
              "error_table must have one entry per HttpError");

constexpr unsigned char lower(unsigned char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c | 0x20) : c;
}

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

} // namespace

int status_of(HttpError e) noexcept { return error_table[static_cast<std::size_t>(e)].status; }

const char* reason_of(HttpError e) noexcept {
    return error_table[static_cast<std::size_t>(e)].reason;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

// RFC 9110 §5.6.1: #element lists; empty elements and OWS around commas are allowed.
bool has_token(std::string_view list, std::string_view token) noexcept {
    while (!list.empty()) {
        std::size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && is_ows(item.front()))
            item.remove_prefix(1);
        while (!item.empty() && is_ows(item.back()))
            item.remove_suffix(1);
        if (iequals(item, token))
            return true;
        if (comma == std::string_view::npos)
            break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

std::string_view Request::header(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < header_count; ++i)
        if (iequals(headers[i].name, name))
            return headers[i].value;
    return {};
}

bool Request::has_header(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < header_count; ++i)
        if (iequals(headers[i].name, name))
            return true;
    return false;
}

std::size_t Request::header_fields(std::string_view name) const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < header_count; ++i)
        if (iequals(headers[i].name, name)) ++n;
    return n;
}

} // namespace herald::http
