// Unit tests for config values (include/config/values.hpp): sizes, durations, listen addresses,
// access rules and their matching, channel names. The loader's error messages:
// test_config.cpp; arity and context of every directive: test_config_directives.cpp.
#include <criterion/criterion.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <arpa/inet.h>

#include "config/config.hpp"
#include "config/values.hpp"

using namespace herald;
using namespace herald::config;

// ---- values -------------------------------------------------------------------------------

Test(config_values, sizes) {
    struct C {
        const char* in;
        std::uint64_t want;
    };
    static const C ok[] = {{"0", 0},           {"512", 512},       {"4k", 4096},
                           {"4K", 4096},       {"1m", 1u << 20},   {"2M", 2u << 20},
                           {"1g", 1ull << 30}, {"3G", 3ull << 30}, {"16383g", 16383ull << 30}};
    for (const C& c : ok) {
        auto v = config::parse_size(c.in);
        cr_expect(v && *v == c.want, "%s", c.in);
    }
    static const char* bad[] = {"",
                                "k",
                                "12q",
                                "1kb",
                                "-1",
                                "+1",
                                " 1",
                                "1 ",
                                "1.5m",
                                "0x10",
                                "99999999999999999999",
                                "18446744073709551615k"};
    for (const char* b : bad) cr_expect(!config::parse_size(b), "%s", b);
}

Test(config_values, durations) {
    struct C {
        const char* in;
        long long ms;
    };
    static const C ok[] = {{"0", 0},
                           {"30", 30'000},
                           {"250ms", 250},
                           {"1s", 1'000},
                           {"2m", 120'000},
                           {"1h", 3'600'000},
                           {"1d", 86'400'000},
                           {"1m30s", 90'000},
                           {"1h30m", 5'400'000},
                           {"1S", 1000},
                           {"1d2h3m4s5ms", 93'784'005},
                           {"5MS", 5}};
    for (const C& c : ok) {
        auto v = config::parse_duration(c.in);
        cr_expect(v && v->count() == c.ms, "%s", c.in);
    }
    static const char* bad[] = {"",    "s",    "1x",  "1m1h", "1s1s",  "1m30",
                                "-1s", "1.5s", "1 s", "ms",   "3651d", "99999999999999999999s"};
    for (const char* b : bad) cr_expect(!config::parse_duration(b), "%s", b);
}

Test(config_values, listen_addresses) {
    struct C {
        const char* in;
        const char* host;
        int port;
    };
    static const C ok[] = {{"8080", "0.0.0.0", 8080},       {"*:80", "0.0.0.0", 80},
                           {"127.0.0.1:0", "127.0.0.1", 0}, {"[::1]:8080", "::1", 8080},
                           {"[::]:443", "::", 443},         {"10.1.2.3:65535", "10.1.2.3", 65535}};
    for (const C& c : ok) {
        config::ListenConf l;
        cr_expect(config::parse_listen_address(c.in, l), "%s", c.in);
        cr_expect_str_eq(l.host.c_str(), c.host, "%s", c.in);
        cr_expect_eq(l.port, c.port, "%s", c.in);
    }
    static const char* bad[] = {"",         "65536",    "x",       "localhost:80",
                                "::1:80",   "[::1]",    "[::1]80", "[1.2.3.4]:80",
                                "1.2.3:80", "1.2.3.4:", ":80",     "1.2.3.4:-1",
                                "[::1:80",  "*:x"};
    for (const char* b : bad) {
        config::ListenConf l;
        cr_expect(!config::parse_listen_address(b, l), "%s", b);
    }
}

Test(config_values, host_port_addresses) {
    struct C {
        const char* in;
        const char* host;
        int port;
    };
    static const C ok[] = {{"127.0.0.1:6379", "127.0.0.1", 6379},
                           {"10.1.2.3:1", "10.1.2.3", 1},
                           {"[::1]:65535", "::1", 65535},
                           {"[::ffff:10.0.0.1]:6379", "::ffff:10.0.0.1", 6379},
                           {"localhost:6379", "localhost", 6379},
                           {"redis-1.cache.Example.COM:7000", "redis-1.cache.Example.COM", 7000},
                           {"r2d2:1", "r2d2", 1}};
    for (const C& c : ok) {
        std::string host;
        std::uint16_t port = 0;
        cr_expect(config::parse_host_port(c.in, host, port), "%s", c.in);
        cr_expect_str_eq(host.c_str(), c.host, "%s", c.in);
        cr_expect_eq(port, c.port, "%s", c.in);
    }
    static const char* bad[] = {"",           "6379",         "127.0.0.1",     "127.0.0.1:0",
                                "1.2.3.4:",   "1.2.3.4:65536", "localhost:0",    "*:6379",
                                "::1:6379",   "[::1]",         "[::1]6379",      "[1.2.3.4]:80",
                                "[::1:6379",  ":6379",         "1.2.3:6379",     "1.2.3.4:-1",
                                "[]:6379",    "01.2.3.4:1",    "10.0.0.256:6379", "-redis:1",
                                "redis-:1",   "a..b:1",        "a.b.:1",         "re_dis:1",
                                "re dis:1",   "localhost:",    "localhost:x",    "host:1:2"};
    for (const char* b : bad) {
        std::string host = "keep";
        std::uint16_t port = 7;
        cr_expect(!config::parse_host_port(b, host, port), "%s", b);
        cr_expect(host == "keep" && port == 7, "%s", b);
    }
}

Test(config_values, redis_prefixes) {
    cr_expect(config::is_valid_redis_prefix("herald:"));
    cr_expect(config::is_valid_redis_prefix("."));
    cr_expect(config::is_valid_redis_prefix("a-b_c.d:e09Z"));
    cr_expect(config::is_valid_redis_prefix(std::string(config::max_redis_prefix, 'x')));
    cr_expect(!config::is_valid_redis_prefix(std::string(config::max_redis_prefix + 1, 'x')));
    cr_expect(!config::is_valid_redis_prefix(""));
    cr_expect(!config::is_valid_redis_prefix("{a}:"));
    cr_expect(!config::is_valid_redis_prefix("a b"));
    cr_expect(!config::is_valid_redis_prefix("a*"));
}

Test(config_values, upstream_urls) {
    struct C {
        const char* in;
        const char* host;
        int port;
        const char* authority;
        const char* path;
    };
    static const C ok[] = {
        {"http://127.0.0.1:3000/auth", "127.0.0.1", 3000, "127.0.0.1:3000", "/auth"},
        {"HTTP://10.0.0.1", "10.0.0.1", 80, "10.0.0.1", "/"},
        {"http://localhost:8080/a?b=c", "127.0.0.1", 8080, "localhost:8080", "/a?b=c"},
        {"http://[::1]:9/x", "::1", 9, "[::1]:9", "/x"},
        {"http://[::1]/", "::1", 80, "[::1]", "/"},
    };
    for (const C& c : ok) {
        config::UpstreamUrl u;
        cr_expect(config::parse_upstream_url(c.in, u), "%s", c.in);
        cr_expect_str_eq(u.host.c_str(), c.host, "%s", c.in);
        cr_expect_eq(u.port, c.port, "%s", c.in);
        cr_expect_str_eq(u.authority.c_str(), c.authority, "%s", c.in);
        cr_expect_str_eq(u.path.c_str(), c.path, "%s", c.in);
    }
    static const char* bad[] = {"",
                                "http://",
                                "https://127.0.0.1/",
                                "127.0.0.1:80/x",
                                "http://example.com/",
                                "http://127.0.0.1:0/",
                                "http://127.0.0.1:65536/",
                                "http://127.0.0.1:/",
                                "http://[::1/",
                                "http://[::1]x/",
                                "http://127.0.0.1/a b",
                                "http://127.0.0.1/a\r\nX: y",
                                "http://127.0.0.1/a#frag"};
    for (const char* b : bad) {
        config::UpstreamUrl u;
        cr_expect(!config::parse_upstream_url(b, u), "%s", b);
    }
}

Test(config_values, access_rules_and_matching) {
    auto v4 = [](const char* s) {
        std::array<std::uint8_t, 16> a{};
        a[10] = a[11] = 0xff;
        cr_assert(inet_pton(AF_INET, s, a.data() + 12) == 1);
        return a;
    };
    auto v6 = [](const char* s) {
        std::array<std::uint8_t, 16> a{};
        cr_assert(inet_pton(AF_INET6, s, a.data()) == 1);
        return a;
    };
    config::AccessRule r;
    cr_assert(config::parse_access_rule("10.1.2.3/8", true, r));
    cr_expect_eq(r.prefix_len, 104);
    cr_expect(r.net[12] == 10 && r.net[13] == 0 && r.net[15] == 0, "host bits cleared");
    cr_expect(!config::parse_access_rule("10.0.0.0/33", true, r));
    cr_expect(!config::parse_access_rule("::/129", true, r));
    cr_expect(!config::parse_access_rule("10.0.0/8", true, r));
    cr_expect(!config::parse_access_rule("10.0.0.1/", true, r));
    cr_expect(!config::parse_access_rule("alll", true, r));

    std::vector<config::AccessRule> rules(4);
    cr_assert(config::parse_access_rule("127.0.0.1", true, rules[0]));
    cr_assert(config::parse_access_rule("192.168.0.0/23", true, rules[1]));
    cr_assert(config::parse_access_rule("2001:db8::/32", true, rules[2]));
    cr_assert(config::parse_access_rule("all", false, rules[3]));
    cr_expect(access_allowed(rules, v4("127.0.0.1")));
    cr_expect(!access_allowed(rules, v4("127.0.0.2")));
    cr_expect(access_allowed(rules, v4("192.168.1.200")));
    cr_expect(!access_allowed(rules, v4("192.168.2.1")));
    cr_expect(access_allowed(rules, v6("2001:db8:ffff::1")));
    cr_expect(!access_allowed(rules, v6("2001:db9::1")));
    cr_expect(!access_allowed(rules, v6("::1")));
    cr_expect(access_allowed({}, v6("::1")), "no rules = allowed");
    std::vector<config::AccessRule> deny_one(1);
    cr_assert(config::parse_access_rule("::1", false, deny_one[0]));
    cr_expect(!access_allowed(deny_one, v6("::1")));
    cr_expect(access_allowed(deny_one, v6("::2")), "no match = allowed");
    // An IPv6 rule never matches an IPv4 client, even ::/0 or ::ffff:0:0/96 (as nginx).
    std::vector<config::AccessRule> v6_only(2);
    cr_assert(config::parse_access_rule("::/0", true, v6_only[0]));
    cr_assert(config::parse_access_rule("all", false, v6_only[1]));
    cr_expect(access_allowed(v6_only, v6("2001:db8::1")));
    cr_expect(!access_allowed(v6_only, v4("127.0.0.1")), "::/0 matched an IPv4 client");
    cr_assert(config::parse_access_rule("::ffff:0:0/96", true, v6_only[0]));
    cr_expect(!access_allowed(v6_only, v4("10.0.0.1")), "::ffff:0:0/96 matched an IPv4 client");
    std::vector<config::AccessRule> v4_zero(2);
    cr_assert(config::parse_access_rule("0.0.0.0/0", true, v4_zero[0]));
    cr_assert(config::parse_access_rule("all", false, v4_zero[1]));
    cr_expect(access_allowed(v4_zero, v4("10.0.0.1")));
    cr_expect(!access_allowed(v4_zero, v6("2001:db8::1")), "0.0.0.0/0 matched an IPv6 client");
}

Test(config_values, channel_names) {
    using namespace std::string_view_literals;
    cr_expect(config::is_valid_channel_name("clock"));
    cr_expect(config::is_valid_channel_name("a-b_c.d:e09Z"));
    cr_expect(config::is_valid_channel_name(std::string(128, 'x')));
    cr_expect(!config::is_valid_channel_name(std::string(129, 'x')));
    cr_expect(!config::is_valid_channel_name(""));
    cr_expect(!config::is_valid_channel_name("a/b"));
    cr_expect(!config::is_valid_channel_name("a b"));
    cr_expect(!config::is_valid_channel_name("é"));
    cr_expect(!config::is_valid_channel_name("a%20"));
    cr_expect(!config::is_valid_channel_name("a\0b"sv));
    // Path segments a URL normalizer removes: such a channel could never be subscribed to.
    cr_expect(!config::is_valid_channel_name("."));
    cr_expect(!config::is_valid_channel_name(".."));
    cr_expect(config::is_valid_channel_name("..."));
    cr_expect(config::is_valid_channel_name(".a"));
}
