// Unit tests for http/real_ip: address text parsing, the X-Forwarded-For walk over trusted
// ranges (nginx realip with real_ip_recursive on), X-Real-IP and the PROXY protocol address.
#include <criterion/criterion.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/values.hpp"
#include "http/real_ip.hpp"

using namespace herald;
using http::IpBytes;

namespace {

IpBytes ip(const char* text) {
    IpBytes a{};
    cr_assert(config::parse_ip_address(text, a) != 0, "%s", text);
    return a;
}

std::vector<config::AccessRule> ranges(std::initializer_list<const char*> cidrs) {
    std::vector<config::AccessRule> out;
    for (const char* c : cidrs) {
        config::AccessRule r;
        cr_assert(config::parse_access_rule(c, true, r), "%s", c);
        out.push_back(r);
    }
    return out;
}

} // namespace

Test(real_ip, parses_bare_addresses_only) {
    static const struct {
        const char* text;
        int want;
    } cases[] = {
        {"10.1.2.3", 4},         {"::1", 6},
        {"2001:db8::7", 6},      {"::ffff:10.1.2.3", 6},
        {"", 0},                 {" 10.1.2.3", 0},
        {"10.1.2.3 ", 0},        {"10.1.2.3:80", 0},
        {"[::1]", 0},            {"[::1]:80", 0},
        {"fe80::1%eth0", 0},     {"010.1.2.3", 0},
        {"10.1.2", 0},           {"10.1.2.256", 0},
        {"unknown", 0},          {"1.2.3.4/8", 0},
        {"1.2.3.4\r", 0},        {"1:2:3:4:5:6:7:8:9", 0},
        {"0000:0000:0000:0000:0000:0000:0000:0000:0", 0},
        {"1111:2222:3333:4444:5555:6666:255.255.255.255", 6},  // 45 characters: the longest
        {"01111:2222:3333:4444:5555:6666:255.255.255.255", 0}, // 46: over max_ip_text
    };
    for (const auto& c : cases) {
        IpBytes a{};
        a[0] = 0x55;
        int got = config::parse_ip_address(c.text, a);
        cr_expect_eq(got, c.want, "\"%s\": got %d", c.text, got);
        if (got == 0) cr_expect(a == IpBytes{}, "\"%s\": out not zeroed", c.text);
    }
    // A NUL ends the C string inet_pton reads, not the value: what follows it is not ignored.
    for (std::string_view nul : {std::string_view("10.1.2.3\0junk", 13),
                                 std::string_view("::1\0", 4)}) {
        IpBytes a{};
        cr_expect_eq(config::parse_ip_address(nul, a), 0, "%zu bytes", nul.size());
    }
    // IPv4-mapped IPv6 is the IPv4 address: the same bytes, the same rules, the same text.
    cr_expect(ip("::ffff:10.1.2.3") == ip("10.1.2.3"));
    const std::string mapped = http::ip_string(ip("::ffff:10.1.2.3"));
    const std::string v6 = http::ip_string(ip("2001:0db8:0:0::1"));
    cr_expect_str_eq(mapped.c_str(), "10.1.2.3");
    cr_expect_str_eq(v6.c_str(), "2001:db8::1");
}

Test(real_ip, forwarded_walk_takes_the_rightmost_untrusted) {
    const auto trusted = ranges({"10.0.0.0/8", "2001:db8::/32", "127.0.0.1"});
    static const struct {
        const char* name;
        const char* value;
        http::ForwardedStatus want;
        const char* client;
    } cases[] = {
        {"one", "1.2.3.4", http::ForwardedStatus::ok, "1.2.3.4"},
        {"spoofed leftmost loses", "6.6.6.6, 1.2.3.4", http::ForwardedStatus::ok, "1.2.3.4"},
        {"trusted hops skipped", "6.6.6.6, 1.2.3.4, 10.0.0.2, 10.9.9.9",
         http::ForwardedStatus::ok, "1.2.3.4"},
        {"no spaces", "6.6.6.6,1.2.3.4,10.0.0.2", http::ForwardedStatus::ok, "1.2.3.4"},
        {"tabs and spaces", " 1.2.3.4 ,\t10.0.0.2\t", http::ForwardedStatus::ok, "1.2.3.4"},
        {"all trusted: leftmost", "10.0.0.3, 127.0.0.1, 10.0.0.2", http::ForwardedStatus::ok,
         "10.0.0.3"},
        {"ipv6", "2001:db8::5, 2a00::1, 2001:db8::9", http::ForwardedStatus::ok, "2a00::1"},
        {"mapped trusted", "1.2.3.4, ::ffff:10.0.0.1", http::ForwardedStatus::ok, "1.2.3.4"},
        {"empty", "", http::ForwardedStatus::malformed, nullptr},
        {"spaces only", "   ", http::ForwardedStatus::malformed, nullptr},
        {"empty element", "1.2.3.4,,10.0.0.2", http::ForwardedStatus::malformed, nullptr},
        {"trailing comma", "1.2.3.4,", http::ForwardedStatus::malformed, nullptr},
        {"port", "1.2.3.4:80", http::ForwardedStatus::malformed, nullptr},
        {"brackets", "[2a00::1]", http::ForwardedStatus::malformed, nullptr},
        {"bracketed port", "[2a00::1]:443, 10.0.0.2", http::ForwardedStatus::malformed, nullptr},
        {"garbage", "<script>", http::ForwardedStatus::malformed, nullptr},
        {"unknown", "unknown, 10.0.0.2", http::ForwardedStatus::malformed, nullptr},
        {"garbage left of the client", "x, 1.2.3.4", http::ForwardedStatus::malformed, nullptr},
        {"space inside", "1.2.3.4 5.6.7.8", http::ForwardedStatus::malformed, nullptr},
    };
    for (const auto& c : cases) {
        IpBytes out = ip("9.9.9.9");
        http::ForwardedStatus got = http::forwarded_client(c.value, trusted, out);
        cr_expect(got == c.want, "%s: status %d", c.name, static_cast<int>(got));
        const char* want = c.client ? c.client : "9.9.9.9";  // untouched on failure
        cr_expect(out == ip(want), "%s: got %s", c.name, http::ip_string(out).c_str());
    }
}

Test(real_ip, forwarded_list_length_is_bounded) {
    const auto trusted = ranges({"10.0.0.0/8"});
    std::string ok, over;
    for (std::size_t i = 0; i < http::max_forwarded_entries; ++i) ok += i ? ",10.0.0.1" : "10.0.0.1";
    over = ok + ",10.0.0.1";
    IpBytes out{};
    cr_expect(http::forwarded_client(ok, trusted, out) == http::ForwardedStatus::ok);
    cr_expect(http::forwarded_client(over, trusted, out) == http::ForwardedStatus::too_many);
    // Counted before parsing: a huge value of commas costs one pass.
    std::string commas(100000, ',');
    cr_expect(http::forwarded_client(commas, trusted, out) == http::ForwardedStatus::too_many);
}

Test(real_ip, resolve_trusts_only_listed_peers) {
    config::Limits l;
    l.real_ip_from = ranges({"127.0.0.1"});
    const IpBytes proxy = ip("127.0.0.1"), other = ip("127.0.0.7");
    l.real_ip_header = config::RealIpHeader::x_forwarded_for;
    http::ClientAddress r = http::resolve_client(l, proxy, proxy, "6.6.6.6, 1.2.3.4", true);
    cr_expect(r.addr == ip("1.2.3.4") && r.from_header && !r.problem);
    r = http::resolve_client(l, other, other, "1.2.3.4", true);  // untrusted peer: ignored
    cr_expect(r.addr == other && !r.from_header && !r.problem);
    r = http::resolve_client(l, proxy, proxy, "", false);  // no header
    cr_expect(r.addr == proxy && !r.problem);
    r = http::resolve_client(l, proxy, proxy, "1.2.3.4:80", true);
    cr_expect(r.addr == proxy && r.problem);
    l.real_ip_header = config::RealIpHeader::x_real_ip;
    r = http::resolve_client(l, proxy, proxy, " 2a00::1 ", true);
    cr_expect(r.addr == ip("2a00::1") && r.from_header);
    r = http::resolve_client(l, proxy, proxy, "1.2.3.4, 5.6.7.8", true);
    cr_expect(r.addr == proxy && r.problem);
    l.real_ip_header = config::RealIpHeader::none;
    r = http::resolve_client(l, proxy, proxy, "1.2.3.4", true);
    cr_expect(r.addr == proxy && !r.from_header);
}

Test(real_ip, proxy_protocol_address_needs_a_trusted_socket_peer) {
    config::Limits l;
    l.real_ip_from = ranges({"127.0.0.1"});
    l.real_ip_header = config::RealIpHeader::proxy_protocol;
    const IpBytes sent = ip("203.0.113.9");
    http::ClientAddress r = http::resolve_client(l, sent, ip("127.0.0.1"), "", false);
    cr_expect(r.addr == sent && r.from_header);
    r = http::resolve_client(l, sent, ip("127.0.0.7"), "", false);
    cr_expect(r.addr == ip("127.0.0.7") && r.problem);
    // X-Forwarded-For behind a PROXY listener: the PROXY address is the one that must be trusted.
    l.real_ip_header = config::RealIpHeader::x_forwarded_for;
    r = http::resolve_client(l, sent, ip("127.0.0.1"), "1.2.3.4", true);
    cr_expect(r.addr == sent && !r.from_header);
}

Test(real_ip, cidr_membership_shares_the_access_rule_matcher) {
    const auto r = ranges({"10.0.0.0/8", "192.168.1.128/25", "2001:db8::/32", "::/0"});
    cr_expect(config::address_in(r, ip("10.255.0.1")));
    cr_expect(config::address_in(r, ip("192.168.1.200")));
    cr_expect(!config::address_in(r, ip("192.168.1.100")));
    cr_expect(config::address_in(r, ip("2a00::1")));  // ::/0
    cr_expect(!config::address_in(r, ip("11.0.0.1"))); // an IPv6 range never matches IPv4
    cr_expect(!config::address_in({}, ip("10.0.0.1")));
}
