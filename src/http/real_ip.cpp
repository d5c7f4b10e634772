// Real client address: X-Forwarded-For walk, X-Real-IP, PROXY protocol (nginx realip).
#include "http/real_ip.hpp"

#include <arpa/inet.h>

#include "config/values.hpp"
#include "core/ascii.hpp"

namespace herald::http {

ForwardedStatus forwarded_client(std::string_view value,
                                 const std::vector<config::AccessRule>& trusted,
                                 IpBytes& out) noexcept {
    // Count first: a long list is refused before any address is parsed. Every element is
    // parsed, not only those right of the client: a list broken anywhere is not one a proxy
    // wrote, and the answer must not depend on where the walk stops.
    std::size_t entries = 1;
    for (char c : value) entries += c == ',';
    if (entries > max_forwarded_entries) return ForwardedStatus::too_many;
    IpBytes addrs[max_forwarded_entries];
    std::size_t n = 0;
    for (std::string_view rest = value;;) {
        std::size_t comma = rest.find(',');
        if (config::parse_ip_address(ascii::trim_ows(rest.substr(0, comma)), addrs[n++]) == 0)
            return ForwardedStatus::malformed;
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    std::size_t i = n - 1;  // the rightmost untrusted one; every one trusted: the leftmost
    while (i > 0 && config::address_in(trusted, addrs[i])) --i;
    out = addrs[i];
    return ForwardedStatus::ok;
}

ClientAddress resolve_client(const config::Limits& l, const IpBytes& conn, const IpBytes& socket,
                             std::string_view header, bool header_present) noexcept {
    ClientAddress r;
    r.addr = conn;
    switch (l.real_ip_header) {
    case config::RealIpHeader::none: return r;
    case config::RealIpHeader::proxy_protocol:
        // The PROXY address is believed only from a trusted proxy.
        if (conn != socket && !config::address_in(l.real_ip_from, socket)) {
            r.addr = socket;
            r.problem = "PROXY protocol address from an untrusted peer";
            return r;
        }
        r.from_header = conn != socket;
        return r;
    case config::RealIpHeader::x_forwarded_for:
    case config::RealIpHeader::x_real_ip: break;
    }
    if (!header_present || !config::address_in(l.real_ip_from, conn)) return r;
    if (l.real_ip_header == config::RealIpHeader::x_real_ip) {
        IpBytes a{};
        if (config::parse_ip_address(ascii::trim_ows(header), a) == 0) {
            r.problem = "malformed X-Real-IP";
            return r;
        }
        r.addr = a;
        r.from_header = true;
        return r;
    }
    switch (forwarded_client(header, l.real_ip_from, r.addr)) {
    case ForwardedStatus::ok: r.from_header = true; break;
    case ForwardedStatus::malformed: r.problem = "malformed X-Forwarded-For"; break;
    case ForwardedStatus::too_many: r.problem = "X-Forwarded-For with too many addresses"; break;
    }
    return r;
}

std::string ip_string(const IpBytes& a) {
    static constexpr std::uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char buf[INET6_ADDRSTRLEN] = "?";
    if (std::equal(v4_mapped, v4_mapped + 12, a.begin()))
        ::inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf);
    else
        ::inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
    return buf;
}

} // namespace herald::http
