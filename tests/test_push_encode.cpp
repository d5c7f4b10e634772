// Unit tests: push escapers and validators (push/encode.hpp): JSON and JS escaping, SSE data
// lines, callback names, chunk framing. Message encodings: test_push_message.cpp.
#include <criterion/criterion.h>

#include <string>
#include <string_view>

#include "push/encode.hpp"

using namespace std::string_view_literals;

namespace {

struct EscapeCase {
    const char* name;
    std::string_view input;
    std::string_view want;
};

std::string json(std::string_view s) {
    std::string out;
    herald::push::append_json_escaped(out, s);
    return out;
}

std::string js(std::string_view s) {
    std::string out;
    herald::push::append_js_escaped(out, s);
    return out;
}

} // namespace

Test(push_encode, json_escaping_table) {
    static const EscapeCase cases[] = {
        {"empty", "", ""},
        {"plain", "hello world", "hello world"},
        {"quote and backslash", "a\"b\\c", "a\\\"b\\\\c"},
        {"short forms", "\b\f\n\r\t", "\\b\\f\\n\\r\\t"},
        {"other controls", "\x01\x1f"sv, "\\u0001\\u001f"},
        {"nul", "a\0b"sv, "a\\u0000b"},
        {"slash and angle kept", "</script>", "</script>"},
        {"utf8 kept", "服务器 é", "服务器 é"},
        {"emoji kept", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
        {"u2028 u2029", "a\xe2\x80\xa8z\xe2\x80\xa9", "a\\u2028z\\u2029"},
        {"lone continuation", "a\x80z", "a\\ufffdz"},
        {"invalid lead ff", "\xff", "\\ufffd"},
        {"overlong c0 af", "\xc0\xaf", "\\ufffd\\ufffd"},
        {"truncated 3-byte", "\xe2\x82", "\\ufffd"},
        {"truncated 3-byte then ascii", "\xe2\x82z", "\\ufffdz"},
        {"truncated 4-byte", "\xf0\x9f\x98", "\\ufffd"},
        {"surrogate ed a0 80", "\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},
        {"above 10ffff", "\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},
        {"overlong e0 80 80", "\xe0\x80\x80", "\\ufffd\\ufffd\\ufffd"},
        {"del kept", "\x7f", "\x7f"},
    };
    for (const EscapeCase& c : cases) {
        const std::string got = json(c.input);
        cr_expect(got == c.want, "%s: got \"%s\" want \"%s\"", c.name, got.c_str(),
                  std::string(c.want).c_str());
    }
}

Test(push_encode, js_escaping_table) {
    static const EscapeCase cases[] = {
        {"plain", "hello", "hello"},
        {"script breakout", "</script><script>alert(1)</script>",
         "\\u003c\\u002fscript\\u003e\\u003cscript\\u003ealert(1)\\u003c\\u002fscript\\u003e"},
        {"html comment", "<!--", "\\u003c!--"},
        {"quotes", "\"'", "\\u0022\\u0027"},
        {"ampersand", "a&b", "a\\u0026b"},
        {"backslash", "\\", "\\\\"},
        {"newlines", "a\nb\rc\td", "a\\nb\\rc\\td"},
        {"controls and del", "\x01\x7f", "\\u0001\\u007f"},
        {"u2028 u2029", "\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029"},
        {"utf8 kept", "服务器回应:", "服务器回应:"},
        {"invalid utf8", "a\xc3(", "a\\ufffd("},
    };
    for (const EscapeCase& c : cases) {
        const std::string got = js(c.input);
        cr_expect(got == c.want, "%s: got \"%s\" want \"%s\"", c.name, got.c_str(),
                  std::string(c.want).c_str());
    }
}

// Whatever the input, the JS-escaped form holds no byte that could end the literal or the
// script element: no quotes, no '<', no '/', no raw line terminators.
Test(push_encode, js_escape_never_breaks_out) {
    std::string all;
    for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
    all += "</script><!--\xe2\x80\xa8\xe2\x80\xa9</SCRIPT";
    const std::string got = js(all);
    for (const char* bad : {"<", ">", "/", "\"", "'", "\n", "\r", "\xe2\x80\xa8", "\xe2\x80\xa9"})
        cr_expect(got.find(bad) == std::string::npos, "found %s", bad);
    for (unsigned char c : got) cr_expect(c >= 0x20 && c != 0x7f, "control byte %02x", c);
}

Test(push_encode, sse_data_line_splitting) {
    static const EscapeCase cases[] = {
        {"empty", "", "data: \n"},
        {"one line", "hello", "data: hello\n"},
        {"lf", "a\nb", "data: a\ndata: b\n"},
        {"crlf", "a\r\nb", "data: a\ndata: b\n"},
        {"cr", "a\rb", "data: a\ndata: b\n"},
        {"cr cr", "a\r\rb", "data: a\ndata: \ndata: b\n"},
        {"lf cr", "a\n\rb", "data: a\ndata: \ndata: b\n"},
        {"trailing lf", "a\n", "data: a\ndata: \n"},
        {"only crlf", "\r\n", "data: \ndata: \n"},
        {"blank middle", "a\n\nb", "data: a\ndata: \ndata: b\n"},
        {"colon kept", "x: y", "data: x: y\n"},
    };
    for (const EscapeCase& c : cases) {
        std::string got;
        herald::push::append_sse_data(got, c.input);
        cr_expect(got == c.want, "%s: got \"%s\"", c.name, got.c_str());
    }
}

Test(push_encode, callback_validation) {
    static const struct {
        std::string_view cb;
        bool ok;
    } cases[] = {
        {"herald_push", true},
        {"herald_cb_3_x9z", true},
        {"herald_A9", true},
        {"herald__", true},
        {"herald_", false},
        {"a", false},
        {"cb", false},
        {"eval", false},
        {"setTimeout", false},
        {"document.write", false},
        {"location.assign", false},
        {"herald_push.call", false},
        {"herald_a.b", false},
        {"herald_$", false},
        {"Herald_push", false},
        {"", false},
        {"herald_a b", false},
        {"herald_a(b)", false},
        {"herald_a[0]", false},
        {"herald_a;alert(1)", false},
        {"herald_a-b", false},
        {"herald_\xc3\xa9", false},
        {"herald_a\nb", false},
    };
    for (const auto& c : cases)
        cr_expect(herald::push::is_valid_callback(c.cb) == c.ok, "callback \"%s\"",
                  std::string(c.cb).c_str());
    cr_expect(herald::push::is_valid_callback("herald_" + std::string(121, 'a')));
    cr_expect(!herald::push::is_valid_callback("herald_" + std::string(122, 'a')));
}

Test(push_encode, chunk_framing) {
    std::string out;
    herald::push::append_chunk(out, "hello");
    cr_expect(out == "5\r\nhello\r\n");
    cr_expect(herald::push::iframe_call_prefix("cb.x", false) == "<script>parent.cb.x");
    cr_expect(herald::push::iframe_call_prefix("cb", true) == "11\r\n<script>parent.cb\r\n");
}
