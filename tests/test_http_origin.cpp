// Unit tests for the one allow_origin matcher (http/origin.hpp): whether a request's Origin
// may use a route, and the Access-Control-Allow-Origin value it gets.
#include <criterion/criterion.h>

#include <string>
#include <string_view>
#include <vector>

#include "http/origin.hpp"

using herald::http::cors_allow_origin;
using herald::http::origin_allowed;

namespace {

struct OriginCase {
    const char* name;
    std::string_view origin;
    std::vector<std::string> allow;
    bool want;
    std::string_view cors;  // Access-Control-Allow-Origin
};

} // namespace

Test(http_origin, allow_list) {
    const OriginCase cases[] = {
        {"no_list", "https://evil.example", {}, true, ""},
        {"star", "https://evil.example", {"*"}, true, "*"},
        {"exact", "https://app.example", {"https://app.example"}, true, "https://app.example"},
        {"second_entry", "http://localhost:8080", {"https://app.example", "http://localhost:8080"},
         true, "http://localhost:8080"},
        {"case_insensitive", "HTTPS://App.Example", {"https://app.example"}, true,
         "HTTPS://App.Example"},
        {"listed_in_capitals", "https://app.example", {"https://APP.example"}, true,
         "https://app.example"},
        {"other", "https://evil.example", {"https://app.example"}, false, ""},
        {"scheme_differs", "http://app.example", {"https://app.example"}, false, ""},
        {"port_differs", "https://app.example:444", {"https://app.example"}, false, ""},
        {"suffix_trick", "https://app.example.evil", {"https://app.example"}, false, ""},
        {"prefix_trick", "https://app.exampl", {"https://app.example"}, false, ""},
        {"null_origin", "null", {"https://app.example"}, false, ""},
        {"absent_origin", "", {"https://app.example"}, true, ""},
    };
    for (const OriginCase& c : cases) {
        cr_expect_eq(origin_allowed(c.origin, c.allow), c.want, "%s", c.name);
        cr_expect(cors_allow_origin(c.origin, c.allow) == c.cors, "%s: cors \"%s\"", c.name,
                  std::string(cors_allow_origin(c.origin, c.allow)).c_str());
    }
}
