// Unit tests for request-target handling (RFC 9112 §3.2, RFC 3986 §2.1, §5.2.4): target forms,
// path decoding and normalisation, query arguments. Inputs sit before a guard page.
#include <criterion/criterion.h>

#include <optional>
#include <string>
#include <string_view>

#include "http/target.hpp"
#include "support/feed.hpp"

using namespace std::literals;
using herald::http::HttpError;
using herald::http::Method;
using herald::http::TargetForm;
using herald::http::TargetParts;
using herald::test::GuardedBuffer;

namespace {

constexpr std::string_view rejected = "<rejected>";

struct PathCase {
    std::string_view raw;
    std::string_view want; // normalised path, or `rejected`
};

const PathCase path_cases[] = {
    // accepted and unchanged
    {"/", "/"},
    {"/index.html", "/index.html"},
    {"/a/b/", "/a/b/"},
    {"/a.b/..c/...", "/a.b/..c/..."},
    {"/a;b=c/d:e@f!$&'()*+,=", "/a;b=c/d:e@f!$&'()*+,="},
    // percent-decoding (RFC 3986 §2.1: hex digits in either case)
    {"/a%20b", "/a b"},
    {"/%7e%7E", "/~~"},
    {"/%41%62c", "/Abc"},
    {"/caf%C3%A9", "/caf\xC3\xA9"},
    {"/100%25", "/100%"},
    {"/%3F%23", "/?#"},
    // dot-segment removal (RFC 3986 §5.2.4), after decoding
    {"/a/./b", "/a/b"},
    {"/a/b/../c", "/a/c"},
    {"/a/b/c/../../d", "/a/d"},
    {"/a/.", "/a/"},
    {"/a/..", "/"},
    {"/a/b/..", "/a/"},
    {"/.", "/"},
    {"/./", "/"},
    {"/a/%2e/b", "/a/b"},
    {"/a/%2E%2E/b", "/b"},
    {"/a/.%2e", "/"},
    {"/a/..b/c", "/a/..b/c"},
    // empty segments merged
    {"//", "/"},
    {"//a///b//", "/a/b/"},
    {"/a//..//b", "/b"},
    // rejected: climbing above "/"
    {"/..", rejected},
    {"/../", rejected},
    {"/../etc/passwd", rejected},
    {"/a/../..", rejected},
    {"/a/../../b", rejected},
    {"/%2e%2e/", rejected},
    {"/.%2E/x", rejected},
    {"//../x", rejected},
    {"/a/b/../../../c", rejected},
    // rejected: encoded slash, NUL, control characters, bad escapes
    {"/a%2Fb", rejected},
    {"/a%2fb", rejected},
    {"/..%2f..%2fetc", rejected},
    {"/a%00b", rejected},
    {"/a%00", rejected},
    {"/%01", rejected},
    {"/%1f", rejected},
    {"/%7F", rejected},
    {"/%0d%0a", rejected},
    {"/%", rejected},
    {"/a%", rejected},
    {"/a%2", rejected},
    {"/a%g0", rejected},
    {"/a%0g", rejected},
    {"/a%%30", rejected},
    {"/a\x01", rejected},
    {"/a b", rejected},
    {"/a#b", rejected},
    {"/a?b", rejected},
    {"/a\0b"sv, rejected},
    // rejected: not an absolute path
    {"", rejected},
    {"a/b", rejected},
    {"*", rejected},
};

} // namespace

Test(target, normalize_path) {
    GuardedBuffer g(64);
    std::string out = "stale contents that must be overwritten";
    for (const PathCase& c : path_cases) {
        const std::string_view raw = g.place(c.raw);
        const HttpError e = herald::http::normalize_path(raw, out);
        if (c.want == rejected) {
            cr_expect(e == HttpError::bad_target, "[%.*s] must be rejected, got [%s]",
                      int(c.raw.size()), c.raw.data(), out.c_str());
        } else {
            cr_expect(e == HttpError::none && out == c.want,
                      "[%.*s] -> [%s] (error %d), want [%.*s]", int(c.raw.size()), c.raw.data(),
                      out.c_str(), int(e), int(c.want.size()), c.want.data());
        }
    }
}

Test(target, normalized_paths_are_fixed_points) {
    std::string once;
    std::string twice;
    for (const PathCase& c : path_cases) {
        if (c.want == rejected || c.want.find('%') != std::string_view::npos ||
            c.want.find_first_of(" ?#\x80\xC3") != std::string_view::npos)
            continue;
        cr_assert(herald::http::normalize_path(c.raw, once) == HttpError::none, "first pass");
        cr_expect(herald::http::normalize_path(once, twice) == HttpError::none && twice == once,
                  "[%s] is not stable: [%s]", once.c_str(), twice.c_str());
    }
}

namespace {

struct FormCase {
    const char* name;
    std::string_view target;
    Method method;
    HttpError error;
    TargetForm form = TargetForm::origin;
    std::string_view authority = "";
    std::string_view path = "";
    std::string_view query = "";
};

const FormCase form_cases[] = {
    {"origin", "/a/b?x=1&y", Method::get, HttpError::none, TargetForm::origin, "", "/a/b", "x=1&y"},
    {"origin, no query", "/", Method::post, HttpError::none, TargetForm::origin, "", "/", ""},
    {"origin, empty query", "/a?", Method::get, HttpError::none, TargetForm::origin, "", "/a", ""},
    {"absolute http", "http://h.example:8080/p?q", Method::get, HttpError::none,
     TargetForm::absolute, "h.example:8080", "/p", "q"},
    {"absolute HTTPS", "HTTPS://h/", Method::get, HttpError::none, TargetForm::absolute, "h", "/",
     ""},
    {"absolute, empty path", "http://h?q=1", Method::get, HttpError::none, TargetForm::absolute,
     "h", "/", "q=1"},
    {"absolute, no path", "http://h", Method::head, HttpError::none, TargetForm::absolute, "h", "/",
     ""},
    {"absolute IPv6", "http://[::1]:80/x", Method::get, HttpError::none, TargetForm::absolute,
     "[::1]:80", "/x", ""},
    {"asterisk", "*", Method::options, HttpError::none, TargetForm::asterisk, "", "*", ""},
    {"authority", "h.example:443", Method::connect, HttpError::none, TargetForm::authority,
     "h.example:443", "", ""},
    {"authority IPv6", "[::1]:443", Method::connect, HttpError::none, TargetForm::authority,
     "[::1]:443", "", ""},
    {"empty", "", Method::get, HttpError::bad_target},
    {"asterisk for GET", "*", Method::get, HttpError::bad_target},
    {"asterisk with more", "*x", Method::options, HttpError::bad_target},
    {"authority for GET", "h:80", Method::get, HttpError::bad_target},
    {"origin for CONNECT", "/", Method::connect, HttpError::bad_target},
    {"CONNECT without port", "h.example", Method::connect, HttpError::bad_target},
    {"CONNECT empty port", "h:", Method::connect, HttpError::bad_target},
    {"CONNECT empty host", ":443", Method::connect, HttpError::bad_target},
    {"CONNECT bad port", "h:44x", Method::connect, HttpError::bad_target},
    {"CONNECT with path", "h/x:443", Method::connect, HttpError::bad_target},
    {"other scheme", "ftp://h/", Method::get, HttpError::bad_target},
    {"no scheme separator", "http:/h/", Method::get, HttpError::bad_target},
    {"empty authority", "http:///x", Method::get, HttpError::bad_target},
    {"userinfo", "http://a%12:b!&*$@h:1234/toto", Method::get, HttpError::bad_target},
    {"bad authority char", "http://h\"x/", Method::get, HttpError::bad_target},
    {"relative", "a/b", Method::get, HttpError::bad_target},
};

} // namespace

Test(target, split_target_forms) {
    GuardedBuffer g(64);
    for (const FormCase& c : form_cases) {
        const std::string_view t = g.place(c.target);
        TargetParts parts;
        const HttpError e = herald::http::split_target(t, c.method, parts);
        cr_expect(e == c.error, "%s: error %d, want %d", c.name, int(e), int(c.error));
        if (e != HttpError::none || c.error != HttpError::none)
            continue;
        cr_expect(parts.form == c.form, "%s: form %d", c.name, int(parts.form));
        cr_expect(parts.authority == c.authority, "%s: authority [%.*s]", c.name,
                  int(parts.authority.size()), parts.authority.data());
        cr_expect(parts.path == c.path, "%s: path [%.*s]", c.name, int(parts.path.size()),
                  parts.path.data());
        cr_expect(parts.query == c.query, "%s: query [%.*s]", c.name, int(parts.query.size()),
                  parts.query.data());
    }
}

namespace {

struct ArgCase {
    std::string_view query;
    std::string_view name;
    std::optional<std::string_view> want;
};

const ArgCase arg_cases[] = {
    {"id=42", "id", "42"},
    {"a=1&id=7&id=8", "id", "7"},
    {"a=1&b=2", "id", std::nullopt},
    {"", "id", std::nullopt},
    {"id", "id", ""},
    {"id=", "id", ""},
    {"&&id=x&", "id", "x"},
    {"idx=1&id=2", "id", "2"},
    {"xid=1", "id", std::nullopt},
    {"q=a+b%20c", "q", "a b c"},
    {"q=%2B%26%3D", "q", "+&="},
    {"my+name=v", "my name", "v"},
    {"%69d=enc", "id", "enc"},
    {"q=100%", "q", "100%"},
    {"q=%zz%4", "q", "%zz%4"},
    {"q=caf%C3%A9", "q", "caf\xC3\xA9"},
    {"q=a=b", "q", "a=b"},
    {"ID=1", "id", std::nullopt},
};

} // namespace

Test(target, query_arg) {
    GuardedBuffer g(64);
    for (const ArgCase& c : arg_cases) {
        const std::string_view q = g.place(c.query);
        const std::optional<std::string> got = herald::http::query_arg(q, c.name);
        if (!c.want) {
            cr_expect(!got, "[%.*s] %.*s: want absent, got [%s]", int(c.query.size()),
                      c.query.data(), int(c.name.size()), c.name.data(), got ? got->c_str() : "");
            continue;
        }
        cr_expect(got && *got == *c.want, "[%.*s] %.*s: got [%s], want [%.*s]", int(c.query.size()),
                  c.query.data(), int(c.name.size()), c.name.data(),
                  got ? got->c_str() : "(absent)", int(c.want->size()), c.want->data());
    }
}

// The access log's view of a target: every ?token= value hidden, however the name is spelled
// in a way query_arg() would still read as "token"; other arguments untouched.
Test(target, masks_token_values) {
    struct Case {
        std::string_view target, want;
    };
    static const Case cases[] = {
        {"/sse/a", "/sse/a"},
        {"/sse/a?since=1", "/sse/a?since=1"},
        {"/sse/a?token=abc.def.ghi", "/sse/a?token=***"},
        {"/sse/a?since=1&token=x&format=json", "/sse/a?since=1&token=***&format=json"},
        {"/sse/a?%74oken=x", "/sse/a?%74oken=***"},
        {"/sse/a?tok%65n=x&token=y", "/sse/a?tok%65n=***&token=***"},
        {"/sse/a?token", "/sse/a?token"},
        {"/sse/a?token=", "/sse/a?token=***"},
        {"/sse/a?xtoken=1&tokens=2", "/sse/a?xtoken=1&tokens=2"},
        {"/sse/a?&&token=a=b&", "/sse/a?&&token=***&"},
        {"http://h/sse/a?token=z", "http://h/sse/a?token=***"},
    };
    for (const Case& c : cases) {
        GuardedBuffer g(64);
        std::string out = "GET ";
        herald::http::append_masked_target(out, g.place(c.target), "token");
        cr_expect(out == "GET " + std::string(c.want), "[%.*s]: got [%s]", int(c.target.size()),
                  c.target.data(), out.c_str());
    }
}
