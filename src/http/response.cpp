// Response heads and dates.
#include "http/response.hpp"

#include <cstdio>
#include <cstring>

namespace herald::http {

const char* status_text(int status) noexcept {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

namespace {
constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
} // namespace

std::string http_date(std::time_t t) {
    struct tm tm;
    ::gmtime_r(&t, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                  tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf;
}

std::time_t parse_http_date(std::string_view s) noexcept {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7). Obsolete forms -> -1,
    // which makes a conditional request unconditional: always safe.
    if (s.size() != 29 || s[3] != ',' || s.substr(26) != "GMT") return -1;
    char mon[4] = {};
    int d, y, hh, mm, ss;
    std::string tmp(s);
    if (std::sscanf(tmp.c_str() + 5, "%2d %3s %4d %2d:%2d:%2d", &d, mon, &y, &hh, &mm, &ss) != 6)
        return -1;
    int m = -1;
    for (int i = 0; i < 12; ++i)
        if (std::strcmp(mon, months[i]) == 0) m = i;
    if (m < 0) return -1;
    struct tm tm{};
    tm.tm_mday = d;
    tm.tm_mon = m;
    tm.tm_year = y - 1900;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    return ::timegm(&tm);
}

std::string_view http_date_now() {
    thread_local std::time_t cached_at = 0;
    thread_local std::string cached;
    std::time_t now = std::time(nullptr);
    if (now != cached_at) {
        cached = http_date(now);
        cached_at = now;
    }
    return cached;
}

ResponseHead::ResponseHead(int status) : status_(status) {
    s_.reserve(256);
    char line[64];
    int n = std::snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, status_text(status));
    s_.append(line, static_cast<std::size_t>(n));
}

ResponseHead& ResponseHead::header(std::string_view name, std::string_view value) {
    s_.append(name).append(": ").append(value).append("\r\n");
    return *this;
}

ResponseHead& ResponseHead::header(std::string_view name, std::uint64_t value) {
    char buf[24];
    int n = std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(value));
    return header(name, std::string_view(buf, static_cast<std::size_t>(n)));
}

std::string ResponseHead::finish(bool keep_alive) && {
    s_.append("Date: ").append(http_date_now()).append("\r\nServer: herald\r\n");
    s_.append(keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
    return std::move(s_);
}

std::string error_page(int status) {
    char buf[256];
    int n = std::snprintf(buf, sizeof buf,
                          "<html>\n<head><title>%d %s</title></head>\n<body>\n<h1>%d %s</h1>\n"
                          "<hr><p>herald</p>\n</body>\n</html>\n",
                          status, status_text(status), status, status_text(status));
    return std::string(buf, static_cast<std::size_t>(n));
}

} // namespace herald::http
