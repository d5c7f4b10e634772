// Typed config values: sizes, durations, listen addresses, access rules, channel names.
#include "config/values.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <string>

#include <arpa/inet.h>

#include "core/ascii.hpp"

namespace herald::config {
namespace {

constexpr std::array<bool, 256> make_channel_chars() {
    std::array<bool, 256> t{};
    for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    t['_'] = t['.'] = t[':'] = t['-'] = true;
    return t;
}
constexpr std::array<bool, 256> channel_chars = make_channel_chars();

// Leading digits of s as a number; advances s past them. nullopt if none or overflow.
std::optional<std::uint64_t> take_number(std::string_view& s) noexcept {
    std::size_t n = 0;
    while (n < s.size() && ascii::is_digit(static_cast<unsigned char>(s[n]))) ++n;
    std::uint64_t v = 0;
    if (!ascii::parse_decimal(s.substr(0, n), UINT64_MAX, v)) return std::nullopt;
    s.remove_prefix(n);
    return v;
}

// Milliseconds per unit at the front of s ("ms" before "m"); advances s. 0 if no unit.
std::uint64_t take_time_unit(std::string_view& s, int& rank) noexcept {
    struct Unit {
        const char* name;
        std::uint64_t ms;
    };
    static constexpr Unit units[] = {
        {"d", 86'400'000}, {"h", 3'600'000}, {"ms", 1}, {"m", 60'000}, {"s", 1'000}};
    static constexpr int ranks[] = {0, 1, 4, 2, 3}; // order of the units from largest
    for (std::size_t k = 0; k < std::size(units); ++k) {
        std::size_t len = std::strlen(units[k].name);
        if (s.size() < len) continue;
        bool match = true;
        for (std::size_t j = 0; j < len; ++j) match = match && ascii::lower(s[j]) == units[k].name[j];
        if (!match) continue;
        s.remove_prefix(len);
        rank = ranks[k];
        return units[k].ms;
    }
    return 0;
}

bool parse_port(std::string_view s, std::uint16_t& port) noexcept {
    auto v = parse_number(s);
    if (!v || *v > 65535) return false;
    port = static_cast<std::uint16_t>(*v);
    return true;
}

// 4 or 6: how s writes a numeric address (see parse_ip_address); 0 when it is none.
int ip_version(std::string_view s) noexcept {
    std::array<std::uint8_t, 16> bytes{};
    return parse_ip_address(s, bytes);
}

} // namespace

std::optional<std::uint64_t> parse_number(std::string_view s) noexcept {
    if (s.empty() || s.size() > 19) return std::nullopt;
    auto v = take_number(s);
    if (!v || !s.empty()) return std::nullopt;
    return v;
}

std::optional<std::uint64_t> parse_size(std::string_view s) noexcept {
    std::uint64_t scale = 1;
    if (!s.empty()) {
        switch (ascii::lower(s.back())) {
        case 'k': scale = 1ull << 10; break;
        case 'm': scale = 1ull << 20; break;
        case 'g': scale = 1ull << 30; break;
        default: break;
        }
        if (scale != 1) s.remove_suffix(1);
    }
    auto v = parse_number(s);
    if (!v || *v > std::numeric_limits<std::uint64_t>::max() / scale) return std::nullopt;
    return *v * scale;
}

std::optional<Duration> parse_duration(std::string_view s) noexcept {
    constexpr std::uint64_t max_ms = 10ull * 365 * 86'400'000;
    if (auto plain = parse_number(s)) {
        if (*plain > max_ms / 1000) return std::nullopt;
        return Duration(static_cast<Duration::rep>(*plain * 1000));
    }
    std::uint64_t total = 0;
    int last_rank = -1;
    while (!s.empty()) {
        auto n = take_number(s);
        int rank = -1;
        std::uint64_t unit = n ? take_time_unit(s, rank) : 0;
        if (!n || unit == 0 || rank <= last_rank) return std::nullopt;
        if (*n > max_ms / unit || total + *n * unit > max_ms) return std::nullopt;
        total += *n * unit;
        last_rank = rank;
    }
    if (last_rank < 0) return std::nullopt;
    return Duration(static_cast<Duration::rep>(total));
}

bool parse_listen_address(std::string_view s, ListenConf& out) {
    std::string host;
    std::string_view port;
    if (!s.empty() && s.front() == '[') {
        std::size_t close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
            return false;
        host.assign(s.substr(1, close - 1));
        port = s.substr(close + 2);
        if (ip_version(host) != 6) return false;
    } else if (std::size_t colon = s.rfind(':'); colon != std::string_view::npos) {
        host.assign(s.substr(0, colon));
        port = s.substr(colon + 1);
        if (host == "*")
            host = "0.0.0.0";
        else if (ip_version(host) != 4)
            return false;
    } else {
        host = "0.0.0.0";
        port = s;
    }
    if (!parse_port(port, out.port)) return false;
    out.host = std::move(host);
    return true;
}

bool parse_host_port(std::string_view s, std::string& host, std::uint16_t& port) {
    // parse_listen_address's HOST:PORT forms, without its bare port and `*`, and no port 0;
    // or NAME:PORT with a host name.
    ListenConf l;
    if (s.empty() || s.front() == '*' || s.find(':') == std::string_view::npos) return false;
    if (!parse_listen_address(s, l)) {
        const std::size_t colon = s.rfind(':');
        if (!ascii::is_host_name(s.substr(0, colon)) || !parse_port(s.substr(colon + 1), l.port))
            return false;
        l.host.assign(s.substr(0, colon));
    }
    if (l.port == 0) return false;
    host = std::move(l.host);
    port = l.port;
    return true;
}

int parse_ip_address(std::string_view s, std::span<std::uint8_t, 16> out) noexcept {
    std::fill(out.begin(), out.end(), std::uint8_t{0});
    char text[max_ip_text + 1];
    // inet_pton reads a C string: a NUL inside s would end the address early.
    if (s.empty() || s.size() > max_ip_text || s.find('\0') != std::string_view::npos) return 0;
    std::copy(s.begin(), s.end(), text);
    text[s.size()] = '\0';
    if (s.find(':') != std::string_view::npos) {
        if (inet_pton(AF_INET6, text, out.data()) == 1) return 6;
    } else if (inet_pton(AF_INET, text, out.data() + 12) == 1) {
        out[10] = out[11] = 0xff;
        return 4;
    }
    std::fill(out.begin(), out.end(), std::uint8_t{0});
    return 0;
}

bool parse_upstream_url(std::string_view s, UpstreamUrl& out) {
    constexpr std::string_view scheme = "http://";
    if (s.size() <= scheme.size() || !ascii::iequals(s.substr(0, scheme.size()), scheme))
        return false;
    s.remove_prefix(scheme.size());
    const std::size_t slash = s.find('/');
    const std::string_view authority = s.substr(0, slash);
    const std::string_view path = slash == std::string_view::npos ? "/" : s.substr(slash);
    for (char c : path)
        if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f ||
            c == '#')
            return false;
    UpstreamUrl u;
    std::string_view port;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') { // RFC 3986 §3.2.2: IP-literal
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return false;
        u.host.assign(authority.substr(1, close - 1));
        if (ip_version(u.host) != 6) return false;
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') return false;
        has_port = !rest.empty();
        port = has_port ? rest.substr(1) : "";
    } else {
        const std::size_t colon = authority.find(':');
        u.host.assign(authority.substr(0, colon));
        has_port = colon != std::string_view::npos;
        if (has_port) port = authority.substr(colon + 1);
        if (ascii::iequals(u.host, "localhost")) u.host = "127.0.0.1";
        else if (ip_version(u.host) != 4) return false;
    }
    if (has_port && !parse_port(port, u.port)) return false;
    if (u.port == 0) return false;
    u.authority.assign(authority);
    u.path.assign(path);
    out = std::move(u);
    return true;
}

bool parse_access_rule(std::string_view s, bool allow, AccessRule& out) {
    out = AccessRule{};
    out.allow = allow;
    if (s == "all") {
        out.all = true;
        out.prefix_len = 0;
        return true;
    }
    std::size_t slash = s.find('/');
    std::string_view addr = s.substr(0, slash);
    bool v6 = addr.find(':') != std::string_view::npos;
    unsigned max_prefix = v6 ? 128 : 32;
    unsigned prefix = max_prefix;
    if (slash != std::string_view::npos) {
        auto p = parse_number(s.substr(slash + 1));
        if (!p || *p > max_prefix) return false;
        prefix = static_cast<unsigned>(*p);
    }
    out.v6 = v6;
    if (parse_ip_address(addr, out.net) == 0) return false;
    if (!v6) prefix += 96;
    out.prefix_len = static_cast<std::uint8_t>(prefix);
    for (unsigned bit = prefix; bit < 128; ++bit)
        out.net[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    return true;
}

bool is_valid_channel_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > max_channel_name || s == "." || s == "..") return false;
    for (char c : s)
        if (!channel_chars[static_cast<unsigned char>(c)]) return false;
    return true;
}

bool is_valid_redis_prefix(std::string_view s) noexcept {
    if (s.empty() || s.size() > max_redis_prefix) return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return channel_chars[static_cast<unsigned char>(c)]; });
}

} // namespace herald::config
