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
    case 412: return "Precondition Failed";
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

namespace {

constexpr const char* long_days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};

// Reads fixed-width fields of an HTTP date; every read checks the length first.
struct DateCursor {
    std::string_view s;
    bool ok = true;

    bool lit(std::string_view want) {
        if (ok && s.substr(0, want.size()) == want) s.remove_prefix(want.size());
        else ok = false;
        return ok;
    }
    int digits(std::size_t n) {
        int v = 0;
        if (!ok || s.size() < n) {
            ok = false;
            return 0;
        }
        for (std::size_t i = 0; i < n; ++i) {
            if (s[i] < '0' || s[i] > '9') {
                ok = false;
                return 0;
            }
            v = v * 10 + (s[i] - '0');
        }
        s.remove_prefix(n);
        return v;
    }
    int name(const char* const* names, std::size_t count) {
        for (std::size_t i = 0; ok && i < count; ++i) {
            std::string_view n(names[i]);
            if (s.substr(0, n.size()) == n) {
                s.remove_prefix(n.size());
                return static_cast<int>(i);
            }
        }
        ok = false;
        return -1;
    }
    void time_of_day(struct tm& tm) {  // time-of-day = hour ":" minute ":" second
        tm.tm_hour = digits(2);
        lit(":");
        tm.tm_min = digits(2);
        lit(":");
        tm.tm_sec = digits(2);
    }
};

std::time_t to_time(const DateCursor& c, struct tm& tm) noexcept {
    // RFC 9110 §5.6.7: second may be 60 (leap second); the rest must be in range.
    if (!c.ok || !c.s.empty() || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    return ::timegm(&tm);
}

} // namespace

// RFC 9110 §5.6.7: IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", and the obsolete forms a
// recipient must accept: rfc850-date "Sunday, 06-Nov-94 08:49:37 GMT" and asctime-date
// "Sun Nov  6 08:49:37 1994".
std::time_t parse_http_date(std::string_view s) noexcept {
    struct tm tm{};
    DateCursor c{s};
    if (s.size() > 3 && s[3] == ',') {  // IMF-fixdate
        c.name(days, 7);
        c.lit(", ");
        tm.tm_mday = c.digits(2);
        c.lit(" ");
        tm.tm_mon = c.name(months, 12);
        c.lit(" ");
        tm.tm_year = c.digits(4) - 1900;
        c.lit(" ");
        c.time_of_day(tm);
        c.lit(" GMT");
        return to_time(c, tm);
    }
    if (s.size() > 3 && s[3] == ' ') {  // asctime-date: day is 2DIGIT or SP 1DIGIT
        c.name(days, 7);
        c.lit(" ");
        tm.tm_mon = c.name(months, 12);
        c.lit(" ");
        if (c.ok && !c.s.empty() && c.s[0] == ' ') {
            c.lit(" ");
            tm.tm_mday = c.digits(1);
        } else {
            tm.tm_mday = c.digits(2);
        }
        c.lit(" ");
        c.time_of_day(tm);
        c.lit(" ");
        tm.tm_year = c.digits(4) - 1900;
        return to_time(c, tm);
    }
    c.name(long_days, 7);  // rfc850-date
    c.lit(", ");
    tm.tm_mday = c.digits(2);
    c.lit("-");
    tm.tm_mon = c.name(months, 12);
    c.lit("-");
    int yy = c.digits(2);
    c.lit(" ");
    c.time_of_day(tm);
    c.lit(" GMT");
    // A two-digit year more than 50 years in the future is the most recent past year with
    // those digits.
    struct tm now{};
    std::time_t t = std::time(nullptr);
    ::gmtime_r(&t, &now);
    int year = now.tm_year + 1900;
    int full = year - year % 100 + yy;
    if (full > year + 50) full -= 100;
    tm.tm_year = full - 1900;
    return to_time(c, tm);
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
