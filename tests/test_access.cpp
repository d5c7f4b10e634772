// Unit tests for the token sources of the access step (app/access): the Authorization header,
// the ?token= argument and the auth_jwt_cookie cookie, in that order, and the cookie reader.
#include <criterion/criterion.h>

#include <string>

#include "app/access.hpp"
#include "core/log.hpp"

using herald::app::cookie_value;
using herald::app::find_token;

namespace {

struct TokenCase {
    const char* name;
    const char* authorization;
    const char* query;
    const char* cookie;
    const char* cookie_name;
    const char* want;
};

const TokenCase token_cases[] = {
    {"none", "", "", "", "", ""},
    {"bearer", "Bearer a.b.c", "", "", "", "a.b.c"},
    {"bearer any case, spaces", "  bEARER   a.b.c  ", "", "", "", "a.b.c"},
    {"basic is not ours", "Basic dXNlcjpw", "", "", "", ""},
    {"bearer without token", "Bearer ", "token=q.r.s", "", "", "q.r.s"},
    {"bearerX is not bearer", "Bearerx.y.z", "", "", "", ""},
    {"query", "", "since=1&token=q.r.s", "", "", "q.r.s"},
    {"query encoded name", "", "%74oken=q.r.s", "", "", "q.r.s"},
    {"query empty", "", "token=", "", "", ""},
    {"header first", "Bearer h.h.h", "token=q.q.q", "jwt=c.c.c", "jwt", "h.h.h"},
    {"query before cookie", "", "token=q.q.q", "jwt=c.c.c", "jwt", "q.q.q"},
    {"cookie", "", "", "a=1; jwt=c.c.c; b=2", "jwt", "c.c.c"},
    {"cookie not configured", "", "", "jwt=c.c.c", "", ""},
    {"other cookie", "", "", "xjwt=c.c.c; jwtx=d", "jwt", ""},
};

} // namespace

Test(access, find_token_sources_in_order) {
    for (const TokenCase& c : token_cases) {
        const std::string got = find_token(c.authorization, c.query, c.cookie, c.cookie_name);
        cr_expect_str_eq(got.c_str(), c.want, "%s", c.name);
    }
}

Test(access, cookie_value) {
    cr_expect(!cookie_value("", "a"));
    cr_expect(!cookie_value("a", "a"));
    cr_expect(cookie_value("a=", "a") == std::string_view(""));
    cr_expect(cookie_value("a=1", "a") == std::string_view("1"));
    cr_expect(cookie_value(" b=2 ;a = \"x y\" ", "a") == std::string_view("x y"));
    cr_expect(cookie_value("b=2;;a=3;a=4", "a") == std::string_view("3"));
    cr_expect(!cookie_value("A=1", "a"));  // names are case-sensitive
}

// Claims (sub) are quoted in log lines through log::quoted().
Test(access, quoted_claims) {
    cr_expect(herald::log::quoted("user-42") == "user-42");
    cr_expect(herald::log::quoted("a\nb\"c\x7f") == "a?b?c?");
    cr_expect_eq(herald::log::quoted(std::string(500, 'x')).size(), 64u);
}
