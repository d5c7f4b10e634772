// Unit tests for HS256 JWT verification (auth/jwt.hpp) and its JSON reader: tokens signed by
// Python (hmac + base64, independent of herald's code), every malformed part, unsupported
// algorithms, bad keys, time claims at their edges, channel patterns and wildcards.
#include <criterion/criterion.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "auth/json_reader.hpp"
#include "auth/jwt.hpp"

using herald::auth::channel_pattern_matches;
using herald::auth::JsonReader;
using herald::auth::JwtClaims;
using herald::auth::JwtError;
using herald::auth::JwtVerifier;

namespace {

// Criterion's string assertions evaluate their arguments after temporaries die: compare
// named strings.
void expect_str(const std::string& got, const std::string& want, const std::string& what) {
    cr_assert(got == want, "%s: got \"%s\", want \"%s\"", what.c_str(), got.c_str(),
              want.c_str());
}

constexpr std::int64_t now = 1700000000;
constexpr std::int64_t leeway = 30;
const std::string key = "0123456789abcdef0123456789abcdef-herald-test";
const std::string other_key = "fedcba9876543210fedcba9876543210-other-key";

std::string hex(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (char c : s) {
        out += digits[static_cast<unsigned char>(c) >> 4];
        out += digits[static_cast<unsigned char>(c) & 15];
    }
    return out;
}

struct Spec {
    std::string key, header, payload;
};

// Signs each (key, header JSON, payload JSON) with Python's hmac and base64 modules, one
// process for the whole list: the signing side shares no code with herald.
std::vector<std::string> python_tokens(const std::vector<Spec>& specs) {
    std::string lines;
    for (const Spec& s : specs)
        lines += hex(s.key) + " " + hex(s.header) + " " + hex(s.payload) + "\n";
    char path[] = "/tmp/herald-jwt-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
    close(fd);
    std::string cmd = std::string("/usr/bin/python3 -c 'import sys,hmac,hashlib,base64\n"
                                  "b = lambda x: base64.urlsafe_b64encode(x).rstrip(b\"=\")\n"
                                  "for line in open(sys.argv[1]):\n"
                                  "    k, h, p = (bytes.fromhex(x) for x in line.split())\n"
                                  "    si = b(h) + b\".\" + b(p)\n"
                                  "    print((si + b\".\" + b(hmac.new(k, si, hashlib.sha256)"
                                  ".digest())).decode())\n' ") +
                      path;
    FILE* p = popen(cmd.c_str(), "r");
    cr_assert_not_null(p);
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        out.append(buf, n);
    cr_assert_eq(pclose(p), 0);
    unlink(path);
    std::vector<std::string> tokens;
    std::size_t at = 0;
    for (std::size_t eol; (eol = out.find('\n', at)) != std::string::npos; at = eol + 1)
        tokens.push_back(out.substr(at, eol - at));
    cr_assert_eq(tokens.size(), specs.size());
    return tokens;
}

const std::string hs256 = R"({"alg":"HS256","typ":"JWT"})";

std::string claims_with(const std::string& members) { return "{" + members + "}"; }
std::string at(std::int64_t t) { return std::to_string(t); }
// A JSON array of n channel patterns ["c0","c1",...].
std::string patterns(std::size_t n) {
    std::string a = "[";
    for (std::size_t i = 0; i < n; ++i) a += (i ? ",\"c" : "\"c") + std::to_string(i) + "\"";
    return a + "]";
}

struct Case {
    const char* name;
    std::string header;
    std::string payload;
    bool wrong_key;
    JwtError want;
};

std::vector<Case> signed_cases() {
    return {
        {"valid", hs256, claims_with(R"("sub":"u1","channels":["a"],"exp":)" + at(now + 100)),
         false, JwtError::none},
        {"valid without typ", R"({"alg":"HS256"})", "{}", false, JwtError::none},
        {"valid with kid and spaces", R"( { "kid" : "k1" , "alg" : "HS256" } )",
         R"( { "sub" : "u\u00e9\ud83d\ude00" } )", false, JwtError::none},
        {"unknown claims skipped", hs256,
         R"({"aud":["x",{"y":[1,2.5e3,true,false,null]}],"iat":1,"sub":"s"})", false,
         JwtError::none},
        {"alg none", R"({"alg":"none"})", "{}", false, JwtError::unsupported_alg},
        {"alg HS512", R"({"alg":"HS512"})", "{}", false, JwtError::unsupported_alg},
        {"alg HS384", R"({"alg":"HS384"})", "{}", false, JwtError::unsupported_alg},
        {"alg RS256", R"({"alg":"RS256"})", "{}", false, JwtError::unsupported_alg},
        {"alg lowercase", R"({"alg":"hs256"})", "{}", false, JwtError::unsupported_alg},
        {"alg missing", R"({"typ":"JWT"})", "{}", false, JwtError::bad_header},
        {"alg not a string", R"({"alg":256})", "{}", false, JwtError::bad_header},
        {"alg twice", R"({"alg":"HS256","alg":"none"})", "{}", false, JwtError::bad_header},
        {"crit", R"({"alg":"HS256","crit":["exp"]})", "{}", false, JwtError::bad_header},
        {"header not json", "HS256", "{}", false, JwtError::bad_header},
        {"header an array", R"(["alg","HS256"])", "{}", false, JwtError::bad_header},
        {"header trailing comma", R"({"alg":"HS256",})", "{}", false, JwtError::bad_header},
        {"header trailing bytes", R"({"alg":"HS256"}x)", "{}", false, JwtError::bad_header},
        {"wrong key", hs256, "{}", true, JwtError::bad_signature},
        {"expired long ago", hs256, claims_with(R"("exp":)" + at(now - 1000)), false,
         JwtError::expired},
        {"expired at leeway edge", hs256, claims_with(R"("exp":)" + at(now - leeway)), false,
         JwtError::expired},
        {"valid inside leeway", hs256, claims_with(R"("exp":)" + at(now - leeway + 1)), false,
         JwtError::none},
        {"fractional exp rounds down", hs256,
         claims_with(R"("exp":)" + at(now - leeway + 1) + ".5"), false, JwtError::none},
        {"not yet valid", hs256, claims_with(R"("nbf":)" + at(now + leeway + 1)), false,
         JwtError::not_yet_valid},
        {"nbf at leeway edge", hs256, claims_with(R"("nbf":)" + at(now + leeway)), false,
         JwtError::none},
        {"fractional nbf rounds up", hs256, claims_with(R"("nbf":)" + at(now + leeway) + ".1"),
         false, JwtError::not_yet_valid},
        {"exp a string", hs256, R"({"exp":"1700000100"})", false, JwtError::bad_claims},
        {"exp with exponent", hs256, R"({"exp":1.7e9})", false, JwtError::bad_claims},
        {"exp too many digits", hs256, R"({"exp":1234567890123456789})", false,
         JwtError::bad_claims},
        {"exp twice", hs256, claims_with(R"("exp":1,"exp":)" + at(now + 100)), false,
         JwtError::bad_claims},
        {"sub twice", hs256, R"({"sub":"a","sub":"b"})", false, JwtError::bad_claims},
        {"sub a number", hs256, R"({"sub":42})", false, JwtError::bad_claims},
        {"channels a string", hs256, R"({"channels":"a"})", false, JwtError::bad_claims},
        {"channels with a number", hs256, R"({"channels":["a",1]})", false,
         JwtError::bad_claims},
        {"channels twice", hs256, R"({"channels":["a"],"channels":["b"]})", false,
         JwtError::bad_claims},
        {"star in the middle", hs256, R"({"channels":["a*b"]})", false, JwtError::bad_claims},
        {"star at the start", hs256, R"({"channels":["*a"]})", false, JwtError::bad_claims},
        {"two stars", hs256, R"({"publish":["a**"]})", false, JwtError::bad_claims},
        {"empty pattern", hs256, R"({"channels":[""]})", false, JwtError::bad_claims},
        {"payload not json", hs256, "sub=u1", false, JwtError::bad_claims},
        {"payload trailing comma", hs256, R"({"sub":"u1",})", false, JwtError::bad_claims},
        {"payload lone surrogate", hs256, R"({"sub":"\ud800"})", false, JwtError::bad_claims},
        {"payload raw control char", hs256, "{\"sub\":\"a\tb\"}", false, JwtError::bad_claims},
        {"payload bad escape", hs256, R"({"sub":"\x"})", false, JwtError::bad_claims},
        {"payload leading zero", hs256, R"({"iat":012})", false, JwtError::bad_claims},
        {"payload too deep", hs256, R"({"x":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]})", false,
         JwtError::bad_claims},
        {"channels at the pattern limit", hs256,
         "{\"channels\":" + patterns(herald::auth::jwt_max_channel_patterns) + "}", false,
         JwtError::none},
        {"channels over the pattern limit", hs256,
         "{\"channels\":" + patterns(herald::auth::jwt_max_channel_patterns + 1) + "}", false,
         JwtError::bad_claims},
        {"publish over the pattern limit", hs256,
         "{\"publish\":" + patterns(herald::auth::jwt_max_channel_patterns + 1) + "}", false,
         JwtError::bad_claims},
        {"payload unterminated", hs256, R"({"sub":"u1")", false, JwtError::bad_claims},
        {"payload bare word", hs256, R"({"x":nul})", false, JwtError::bad_claims},
    };
}

JwtVerifier verifier() {
    auto v = JwtVerifier::create(key, leeway);
    cr_assert(v.has_value());
    return *v;
}

} // namespace

Test(jwt, python_signed_tokens_table, .timeout = 30.0) {
    std::vector<Case> cases = signed_cases();
    std::vector<Spec> specs;
    for (const Case& c : cases)
        specs.push_back({c.wrong_key ? other_key : key, c.header, c.payload});
    std::vector<std::string> tokens = python_tokens(specs);
    JwtVerifier v = verifier();
    for (std::size_t i = 0; i < cases.size(); ++i) {
        JwtClaims claims;
        JwtError got = v.verify(tokens[i], now, claims);
        cr_assert(got == cases[i].want, "%s: got \"%s\", want \"%s\" (%s)", cases[i].name,
                  to_string(got), to_string(cases[i].want), tokens[i].c_str());
    }
}

Test(jwt, claims_of_a_valid_token) {
    std::vector<std::string> t = python_tokens(
        {{key, hs256,
          R"({"sub":"user-42","exp":1700000100,"nbf":1699999990,"channels":["user-42","news.*"],)"
          R"("publish":["chat"]})"}});
    JwtClaims c;
    cr_assert(verifier().verify(t[0], now, c) == JwtError::none);
    expect_str(c.sub, "user-42", "sub");
    cr_assert_eq(*c.exp, 1700000100);
    cr_assert_eq(*c.nbf, 1699999990);
    cr_assert(c.may_subscribe("user-42"));
    cr_assert(c.may_subscribe("news.sport"));
    cr_assert(c.may_subscribe("news."));
    cr_assert_not(c.may_subscribe("user-4"));
    cr_assert_not(c.may_subscribe("user-421"));
    cr_assert_not(c.may_subscribe("news"));
    cr_assert_not(c.may_subscribe("chat"));
    cr_assert(c.may_publish("chat"));
    cr_assert_not(c.may_publish("user-42"));
}

Test(jwt, no_channels_claim_allows_nothing) {
    std::vector<std::string> t = python_tokens({{key, hs256, R"({"sub":"u"})"}});
    JwtClaims c;
    cr_assert(verifier().verify(t[0], now, c) == JwtError::none);
    cr_assert_not(c.may_subscribe("a"));
    cr_assert_not(c.may_publish("a"));
    cr_assert_not(c.exp.has_value());
}

Test(jwt, wildcard_edge_cases) {
    struct W {
        const char* pattern;
        const char* channel;
        bool match;
    };
    static const W w[] = {
        {"*", "a", true},       {"*", "anything.at-all", true}, {"a*", "a", true},
        {"a*", "ab", true},     {"a*", "b", false},             {"a*", "ba", false},
        {"a", "a", true},       {"a", "ab", false},             {"ab", "a", false},
        {"a*b", "a*b", false},  {"a*b", "axb", false},          {"*a", "xa", false},
        {"a**", "a*x", false},  {"news.*", "news.x", true},     {"news.*", "news", false},
        {"A*", "a", false},
    };
    for (const W& x : w)
        cr_assert_eq(channel_pattern_matches(x.pattern, x.channel), x.match, "%s vs %s",
                     x.pattern, x.channel);
}

Test(jwt, malformed_compact_serializations) {
    std::vector<std::string> t = python_tokens({{key, hs256, "{}"}});
    const std::string& good = t[0];
    const std::size_t dot1 = good.find('.'), dot2 = good.rfind('.');
    const std::string h = good.substr(0, dot1), p = good.substr(dot1 + 1, dot2 - dot1 - 1),
                      s = good.substr(dot2 + 1);
    struct M {
        const char* name;
        std::string token;
        JwtError want;
    };
    const M m[] = {
        {"empty", "", JwtError::malformed},
        {"one part", h, JwtError::malformed},
        {"two parts", h + "." + p, JwtError::malformed},
        {"four parts", good + ".x", JwtError::malformed},
        {"trailing dot", good + ".", JwtError::malformed},
        {"empty header", "." + p + "." + s, JwtError::malformed},
        {"empty payload", h + ".." + s, JwtError::malformed},
        {"empty signature", h + "." + p + ".", JwtError::bad_signature},
        {"padded header", h + "=." + p + "." + s, JwtError::malformed},
        {"padded signature", h + "." + p + "." + s + "=", JwtError::malformed},
        {"standard base64 char", h + "." + p + "+." + s, JwtError::malformed},
        {"space", h + " ." + p + "." + s, JwtError::malformed},
        {"impossible length", h + "." + p + "." + s + "AA", JwtError::malformed},
        {"short signature", h + "." + p + "." + s.substr(0, 40), JwtError::bad_signature},
        {"signature of another token", h + "." + p + "." + std::string(43, 'A'),
         JwtError::bad_signature},
        {"too long", h + "." + p + std::string(herald::auth::jwt_max_token_bytes, 'A') + "." + s,
         JwtError::too_long},
    };
    JwtVerifier v = verifier();
    JwtClaims c;
    cr_assert(v.verify(good, now, c) == JwtError::none);
    for (const M& x : m) {
        JwtError got = v.verify(x.token, now, c);
        cr_assert(got == x.want, "%s: got \"%s\", want \"%s\"", x.name, to_string(got),
                  to_string(x.want));
    }
}

Test(jwt, every_changed_character_is_refused) {
    std::vector<std::string> t =
        python_tokens({{key, hs256, R"({"sub":"u","channels":["a"],"exp":1700000100})"}});
    JwtVerifier v = verifier();
    JwtClaims c;
    const std::string alphabet = "AQgw-_.=";
    for (std::size_t i = 0; i < t[0].size(); ++i) {
        for (char ch : alphabet) {
            if (t[0][i] == ch)
                continue;
            std::string bad = t[0];
            bad[i] = ch;
            cr_assert(v.verify(bad, now, c) != JwtError::none, "byte %zu -> %c", i, ch);
        }
    }
}

Test(jwt, keys_shorter_than_32_bytes_are_refused) {
    cr_assert_not(JwtVerifier::create("").has_value());
    cr_assert_not(JwtVerifier::create(std::string(31, 'k')).has_value());
    cr_assert(JwtVerifier::create(std::string(32, 'k')).has_value());
    cr_assert_not(JwtVerifier::create(std::string(32, 'k'), -1).has_value());
}

Test(json_reader, reads_members_in_order_and_checks_the_end) {
    JsonReader r(R"({"a":"x\n\"\\\/\u0041","b":[],"c":-12.50})");
    std::string name, s;
    std::vector<std::string> arr;
    herald::auth::JsonNumber n;
    cr_assert(r.next_member(name) && name == "a");
    cr_assert(r.read_string(s));
    expect_str(s, "x\n\"\\/A", "string");
    cr_assert(r.next_member(name) && name == "b");
    cr_assert(r.read_string_array(arr, 4) && arr.empty());
    cr_assert(r.next_member(name) && name == "c");
    cr_assert(r.read_number(n));
    cr_assert(n.negative && n.integer == 12 && n.fraction && !n.exponent);
    cr_assert_not(r.next_member(name));
    cr_assert(r.ok());
}

Test(json_reader, a_number_with_many_digits_is_read_as_too_long) {
    JsonReader r(R"({"a":12345678901234567890,"b":123456789012345678})");
    std::string name;
    herald::auth::JsonNumber n;
    cr_assert(r.next_member(name) && r.read_number(n));
    cr_expect(n.too_long);
    cr_assert(r.next_member(name) && r.read_number(n));
    cr_expect(!n.too_long && n.integer == 123456789012345678);
    cr_assert_not(r.next_member(name));
    cr_assert(r.ok());
}

Test(json_reader, string_array_limit) {
    JsonReader r(R"({"a":["1","2","3"]})");
    std::string name;
    std::vector<std::string> arr;
    cr_assert(r.next_member(name));
    cr_assert_not(r.read_string_array(arr, 2));
    cr_assert_not(r.ok());
}

Test(json_reader, empty_object_and_garbage) {
    std::string name;
    JsonReader empty(" {} ");
    cr_assert_not(empty.next_member(name));
    cr_assert(empty.ok());
    for (const char* bad : {"", "{", "}", "{}}", "[]", "{\"a\"}", "{\"a\":}", "{,}", "{\"a\":1,}",
                            "{'a':1}", "{\"a\":1 \"b\":2}", "{\"a\":+1}", "{\"a\":1.}",
                            "{\"a\":.5}", "{\"a\":1e}", "{\"a\":tru}", "{\"a\":\"\\ud83d\"}"}) {
        JsonReader r(bad);
        while (r.next_member(name))
            if (!r.skip_value())
                break;
        cr_assert_not(r.ok(), "%s", bad);
    }
}

Test(json_reader, peek_type_tells_the_value_without_reading_it) {
    using herald::auth::JsonType;
    JsonReader r(R"({"s": "x", "n":-1, "t":true, "f":false, "z":null, "a":[1], "o":{}, "x":?})");
    std::string name;
    const JsonType want[] = {JsonType::string, JsonType::number, JsonType::boolean,
                             JsonType::boolean, JsonType::null,  JsonType::array,
                             JsonType::object};
    for (JsonType w : want) {
        cr_assert(r.next_member(name));
        cr_assert(r.peek_type() == w, "%s", name.c_str());
        cr_assert(r.peek_type() == w, "%s: peeking again", name.c_str());
        cr_assert(r.skip_value(), "%s", name.c_str());
    }
    cr_assert(r.next_member(name) && name == "x");
    cr_assert(r.peek_type() == JsonType::invalid);
    cr_assert_not(r.skip_value());
    cr_assert(r.peek_type() == JsonType::invalid, "after an error");
    cr_assert_not(r.ok());
}
