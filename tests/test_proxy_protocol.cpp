// Unit tests for the PROXY protocol parser (net/proxy_protocol.hpp): v1 TCP4/TCP6/UNKNOWN and
// the 107-byte limit, v2 LOCAL/PROXY over INET/INET6/UNSPEC/UNIX with TLVs, every malformed
// field; each case whole, byte by byte and split at every offset, with trailing bytes that
// must be left for the next protocol.
#include <criterion/criterion.h>

#include <string>
#include <string_view>

#include "net/proxy_protocol.hpp"
#include "support/feed.hpp"

using herald::net::ProxyHeader;
using herald::net::ProxyParser;
using herald::net::ProxyResult;
using herald::net::ProxyStatus;
using herald::test::FeedMode;
using herald::test::GuardedBuffer;

namespace {

// Criterion's string assertions evaluate their arguments after temporaries die: compare
// named strings.
void expect_str(const std::string& got, const std::string& want, const std::string& what) {
    cr_assert(got == want, "%s: got \"%s\", want \"%s\"", what.c_str(), got.c_str(),
              want.c_str());
}

using namespace std::string_literals;

const std::string v2_sig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string be16(unsigned n) {
    return {static_cast<char>(n >> 8 & 0xFF), static_cast<char>(n & 0xFF)};
}

// A v2 header: version/command byte, family/transport byte, then the body.
std::string v2(unsigned char ver_cmd, unsigned char fam, const std::string& body) {
    return v2_sig + static_cast<char>(ver_cmd) + static_cast<char>(fam) + be16(body.size()) +
           body;
}

const std::string inet_body =
    std::string("\xC0\x00\x02\x01" "\x7F\x00\x00\x07", 8) + be16(56324) + be16(443);
const std::string inet6_body = std::string("\x20\x01\x0d\xb8", 4) + std::string(11, '\0') +
                               "\x05" + std::string(15, '\0') + "\x01" + be16(1) + be16(65535);

struct Case {
    const char* name;
    std::string input;
    ProxyStatus want;
    std::size_t consumed;  // when done
    bool has_address;
    const char* source;    // Address::to_string() of the source
};

std::vector<Case> cases() {
    const std::string tail = "GET / HTTP/1.1\r\n";
    std::string long_unknown = "PROXY UNKNOWN " + std::string(91, 'x') + "\r\n"; // 107 bytes
    std::string too_long = "PROXY UNKNOWN " + std::string(92, 'x') + "\r\n";     // 108 bytes
    std::string tlvs = inet_body + "\x04" + be16(3) + "abc" + "\x01" + be16(0);
    return {
        {"v1 tcp4", "PROXY TCP4 192.0.2.1 127.0.0.7 56324 443\r\n" + tail, ProxyStatus::done, 42,
         true, "192.0.2.1:56324"},
        {"v1 tcp6", "PROXY TCP6 2001:db8::5 ::1 1 65535\r\n", ProxyStatus::done, 36, true,
         "[2001:db8::5]:1"},
        {"v1 port 0", "PROXY TCP4 1.2.3.4 5.6.7.8 0 0\r\n", ProxyStatus::done, 32, true,
         "1.2.3.4:0"},
        {"v1 unknown", "PROXY UNKNOWN\r\n" + tail, ProxyStatus::done, 15, false, ""},
        {"v1 unknown with addresses", "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
         ProxyStatus::done, 59, false, ""},
        {"v1 107 bytes", long_unknown, ProxyStatus::done, 107, false, ""},
        {"v1 108 bytes", too_long, ProxyStatus::error, 0, false, ""},
        {"v1 no CRLF within 107", "PROXY TCP4 " + std::string(120, '1'), ProxyStatus::error, 0,
         false, ""},
        {"v1 LF only", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", ProxyStatus::error, 0, false, ""},
        {"v1 bare CR", "PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", ProxyStatus::error, 0, false, ""},
        // Found by fuzz_proxy: a CR that ended one piece was not checked again when its
        // next byte arrived, so a split input was accepted where the whole one was not.
        {"v1 bare CR in UNKNOWN", "PROXY UNKNOWN a\rb\r\n", ProxyStatus::error, 0, false, ""},
        {"v1 lowercase", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", ProxyStatus::error, 0, false, ""},
        {"v1 no space", "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", ProxyStatus::error, 0, false, ""},
        {"v1 udp", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", ProxyStatus::error, 0, false, ""},
        {"v1 tcp4 with v6", "PROXY TCP4 ::1 ::1 1 2\r\n", ProxyStatus::error, 0, false, ""},
        {"v1 tcp6 with v4", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", ProxyStatus::error, 0, false,
         ""},
        {"v1 bad octet", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", ProxyStatus::error, 0, false,
         ""},
        {"v1 port too big", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", ProxyStatus::error, 0,
         false, ""},
        {"v1 port leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", ProxyStatus::error, 0,
         false, ""},
        {"v1 port sign", "PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n", ProxyStatus::error, 0, false,
         ""},
        {"v1 missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n", ProxyStatus::error, 0, false,
         ""},
        {"v1 extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", ProxyStatus::error, 0, false,
         ""},
        {"v1 double space", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", ProxyStatus::error, 0, false,
         ""},
        {"v1 trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", ProxyStatus::error, 0,
         false, ""},
        {"v1 NUL", "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"s, ProxyStatus::error, 0, false, ""},
        {"plain HTTP", tail, ProxyStatus::error, 0, false, ""},
        {"TLS hello", "\x16\x03\x01\x02\x00\x01"s, ProxyStatus::error, 0, false, ""},
        {"v2 inet", v2(0x21, 0x11, inet_body) + tail, ProxyStatus::done, 28, true,
         "192.0.2.1:56324"},
        {"v2 inet6", v2(0x21, 0x21, inet6_body), ProxyStatus::done, 52, true, "[2001:db8::5]:1"},
        {"v2 inet with TLVs", v2(0x21, 0x11, tlvs), ProxyStatus::done, 16 + tlvs.size(), true,
         "192.0.2.1:56324"},
        {"v2 local", v2(0x20, 0x00, ""), ProxyStatus::done, 16, false, ""},
        {"v2 local ignores the block", v2(0x20, 0x11, inet_body), ProxyStatus::done, 28, false,
         ""},
        {"v2 unspec", v2(0x21, 0x00, "\x02"s + be16(0)), ProxyStatus::done, 19, false, ""},
        {"v2 unix", v2(0x21, 0x31, std::string(216, '\0')), ProxyStatus::done, 232, false, ""},
        {"v2 version 1", v2(0x11, 0x11, inet_body), ProxyStatus::error, 0, false, ""},
        {"v2 version 3", v2(0x31, 0x11, inet_body), ProxyStatus::error, 0, false, ""},
        {"v2 command 2", v2(0x22, 0x11, inet_body), ProxyStatus::error, 0, false, ""},
        {"v2 udp", v2(0x21, 0x12, inet_body), ProxyStatus::error, 0, false, ""},
        {"v2 family 4", v2(0x21, 0x41, inet_body), ProxyStatus::error, 0, false, ""},
        {"v2 inet short", v2(0x21, 0x11, inet_body.substr(0, 11)), ProxyStatus::error, 0, false,
         ""},
        {"v2 inet6 short", v2(0x21, 0x21, inet_body), ProxyStatus::error, 0, false, ""},
        {"v2 TLV overruns", v2(0x21, 0x11, inet_body + "\x04" + be16(4) + "abc"),
         ProxyStatus::error, 0, false, ""},
        {"v2 TLV header cut", v2(0x21, 0x11, inet_body + "\x04\x00"), ProxyStatus::error, 0,
         false, ""},
        {"v2 over the limit", v2_sig + "\x21\x11" + be16(4081), ProxyStatus::error, 0, false,
         ""},
        {"v2 bad signature", "\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x0c"s + inet_body,
         ProxyStatus::error, 0, false, ""},
        {"v1 incomplete", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", ProxyStatus::need_more, 0, false,
         ""},
        {"v2 incomplete", v2(0x21, 0x11, inet_body).substr(0, 20), ProxyStatus::need_more, 0,
         false, ""},
        {"empty", "", ProxyStatus::need_more, 0, false, ""},
    };
}

void check(const Case& c, const ProxyResult& r, const ProxyParser& p, const char* how,
           std::size_t cut) {
    cr_assert(r.status == c.want, "%s (%s %zu): status %d, want %d (%s)", c.name, how, cut,
              int(r.status), int(c.want), r.error);
    if (c.want == ProxyStatus::error)
        cr_assert(r.error[0] != '\0', "%s: an error has a reason", c.name);
    if (c.want != ProxyStatus::done)
        return;
    cr_assert_eq(r.consumed, c.consumed, "%s (%s %zu): consumed %zu, want %zu", c.name, how,
                 cut, r.consumed, c.consumed);
    const ProxyHeader& h = p.header();
    cr_assert_eq(h.has_address, c.has_address, "%s (%s %zu)", c.name, how, cut);
    if (c.has_address)
        expect_str(h.source.to_string(), c.source, std::string(c.name) + " " + how + " " + std::to_string(cut));
}

} // namespace

Test(proxy_protocol, same_result_whole_bytewise_and_at_every_split) {
    for (const Case& c : cases()) {
        GuardedBuffer g(c.input.size());
        {
            ProxyParser p;
            auto r = feed_whole(g, c.input, FeedMode::accumulate, [&](auto in) { return p.feed(in); });
            check(c, r, p, "whole", 0);
        }
        {
            ProxyParser p;
            auto r =
                feed_bytewise(g, c.input, FeedMode::accumulate, [&](auto in) { return p.feed(in); });
            check(c, r, p, "bytewise", 0);
        }
        for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
            ProxyParser p;
            auto r = feed_split(g, c.input, cut, FeedMode::accumulate,
                                [&](auto in) { return p.feed(in); });
            check(c, r, p, "split", cut);
        }
    }
}

Test(proxy_protocol, destination_and_version) {
    ProxyParser p;
    ProxyResult r = p.feed("PROXY TCP6 ::ffff:10.0.0.1 ::2 8080 80\r\n");
    cr_assert(r.status == ProxyStatus::done);
    cr_assert_eq(p.header().version, 1);
    expect_str(p.header().destination.to_string(), "[::2]:80", "v1 destination");
    ProxyParser p2;
    std::string h = v2(0x21, 0x11, inet_body);
    cr_assert(p2.feed(h).status == ProxyStatus::done);
    cr_assert_eq(p2.header().version, 2);
    expect_str(p2.header().destination.to_string(), "127.0.0.7:443", "v2 destination");
}

Test(proxy_protocol, result_is_sticky_after_done_or_error) {
    ProxyParser p;
    std::string in = "PROXY UNKNOWN\r\nmore";
    cr_assert(p.feed(in).status == ProxyStatus::done);
    ProxyResult again = p.feed(in);
    cr_assert(again.status == ProxyStatus::done && again.consumed == 15);
    ProxyParser bad;
    cr_assert(bad.feed("GET").status == ProxyStatus::error);
    cr_assert(bad.feed("PROXY UNKNOWN\r\n").status == ProxyStatus::error);
}
