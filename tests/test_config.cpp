// Unit tests for every config loader error message with its FILE:LINE:COL. Config values
// (units, addresses, access rules): test_config_values.cpp; arity and context of every
// directive: test_config_directives.cpp; the typed model: test_config_model.cpp.
#include <criterion/criterion.h>

#include <string>

#include "config/config.hpp"
#include "support/config_files.hpp"

using namespace herald;
using herald::test::load_error;

// ---- loader errors ------------------------------------------------------------------------

namespace {

struct ErrorCase {
    const char* name;
    std::string input;
    const char* want; // full message, or "OK"
};

// Puts body inside a server (body starts on line 4) or a location (line 5).
std::string srv(const char* body) { return std::string("http {\nserver {\nlisten 80;\n") + body; }
std::string loc(const char* body) { return srv("location /x {\n") + body; }

const ErrorCase error_cases[] = {
    {"unknown", srv("lisen 80;\n}}"), "t.conf:4:1: unknown directive \"lisen\""},
    {"duplicate", srv("root /a;\n  root /b;\n}}"), "t.conf:5:3: \"root\" directive is duplicate"},
    {"duplicate_block", "events {}\nevents {}", "t.conf:2:1: \"events\" directive is duplicate"},
    {"arity", srv("listen;\n}}"),
     "t.conf:4:1: invalid number of arguments in \"listen\" directive"},
    {"context", "http {\nlisten 80;\n}", "t.conf:2:1: \"listen\" directive is not allowed here"},
    {"no_opening", "http;", "t.conf:1:1: directive \"http\" has no opening \"{\""},
    {"not_terminated", srv("root /x { }\n}}"),
     "t.conf:4:1: directive \"root\" is not terminated by \";\""},
    {"eof", "http {\nserver {\n", "t.conf:3:1: unexpected end of file, expecting \"}\""},
    {"close", "}", "t.conf:1:1: unexpected \"}\""},
    {"bad_size", srv("client_max_body_size 12q;\n}}"),
     "t.conf:4:22: invalid value \"12q\" in \"client_max_body_size\" directive"},
    {"bad_time", srv("keepalive_timeout 1m1h;\n}}"),
     "t.conf:4:19: invalid value \"1m1h\" in \"keepalive_timeout\" directive"},
    {"time_range", srv("send_timeout 0;\n}}"),
     "t.conf:4:14: invalid value \"0\" in \"send_timeout\" directive, it must be between 1ms and "
     "3650d"},
    {"size_range", "http { large_header_buffer 512; }",
     "t.conf:1:28: invalid value \"512\" in \"large_header_buffer\" directive, it must be between "
     "1024 and 1048576 bytes"},
    {"max_headers_range", "http { max_headers 129; }",
     "t.conf:1:20: invalid value \"129\" in \"max_headers\" directive, it must be between 1 and "
     "128"},
    {"include_missing", "http {\n  include /nonexistent/x.conf;\n}",
     "t.conf:2:11: open() \"/nonexistent/x.conf\" failed (No such file or directory)"},
    {"no_listen", "http {\n  server { root /x; }\n}", "t.conf:2:3: no \"listen\" in server"},
    {"duplicate_location", srv("location /a {}\nlocation /a {}\n}}"),
     "t.conf:5:10: duplicate location \"/a\""},
    {"exact_and_prefix_differ_ok_but_dup_exact",
     srv("location /a {}\nlocation = /a {}\nlocation =/a {}\n}}"),
     "t.conf:6:10: duplicate location \"/a\""},
    {"location_modifier", srv("location ~ /a {}\n}}"),
     "t.conf:4:10: invalid location modifier \"~\""},
    {"location_path", srv("location @named {}\n}}"),
     "t.conf:4:10: invalid location \"@named\", it must start with \"/\" (regex and named "
     "locations are not supported)"},
    {"push_needs_channel", srv("location /a/ { push sse; }\n}}"),
     "t.conf:4:1: \"push\" requires a \"channel\" in location \"/a/\""},
    {"publish_needs_channel", srv("location = /p { publish; }\n}}"),
     "t.conf:4:1: \"publish\" requires a \"channel\" in location \"/p\""},
    {"publish_off_is_static", srv("location = /p { publish off; }\n}}"), "OK"},
    {"channel_needs_push", srv("location = /p { channel $arg_c; }\n}}"),
     "t.conf:4:1: \"channel\" requires \"push\" or \"publish\" in location \"/p\""},
    {"echo_needs_websocket", srv("location = /e { push sse; echo x; }\n}}"),
     "t.conf:4:1: \"echo\" requires \"push websocket\" in location \"/e\""},
    {"echo_without_push", srv("location = /e { echo x; }\n}}"),
     "t.conf:4:1: \"echo\" requires \"push websocket\" in location \"/e\""},
    {"echo_and_publish", srv("location = /e { push websocket; echo x; publish; channel c; }\n}}"),
     "t.conf:4:1: \"echo\" cannot be combined with \"publish\" in location \"/e\""},
    {"publish_with_polling", srv("location = /e { push polling; publish; channel $arg_c; }\n}}"),
     "t.conf:4:1: \"publish\" can be combined only with \"push websocket\" in location \"/e\""},
    {"multiplex", srv("location = /m { push websocket; multiplex on; publish on; }\n}}"), "OK"},
    {"multiplex_needs_websocket", srv("location = /m { push sse; multiplex on; }\n}}"),
     "t.conf:4:1: \"multiplex\" requires \"push websocket\" in location \"/m\""},
    {"multiplex_and_channel", srv("location = /m { push websocket; multiplex on; channel c; }\n}}"),
     "t.conf:4:1: \"multiplex\" cannot be combined with \"channel\" or \"echo\" (its clients "
     "subscribe by command) in location \"/m\""},
    {"status_and_push", srv("location = /s { status; push sse; channel $arg_c; }\n}}"),
     "t.conf:4:1: \"status\" cannot be combined with \"push\", \"publish\", \"channel\" or "
     "\"echo\" in location \"/s\""},
    {"tail_in_exact", srv("location = /x { push sse; channel $tail; }\n}}"),
     "t.conf:4:35: \"channel $tail\" is allowed only in prefix locations"},
    {"undeclared_channel", srv("location = /x {\n  push sse;\n  channel news;\n}\n}}"),
     "t.conf:6:3: channel \"news\" is not declared (add \"channel news { }\" to http or set "
     "\"channel_autocreate on\")"},
    {"declared_after_use", srv("location = /x { push sse; channel news; }\n}\nchannel news {}\n}"),
     "OK"},
    {"autocreate", srv("location = /x { push sse; channel news; }\n}\nchannel_autocreate on;\n}"),
     "OK"},
    {"bad_channel_ref", loc("push sse; channel $foo;\n}}}"),
     "t.conf:5:19: invalid value \"$foo\" in \"channel\" directive, it must be a channel name "
     "(1-128 of A-Z a-z 0-9 _ . : -, not \".\" or \"..\"), $arg_NAME or $tail"},
    {"bad_arg_ref", loc("push sse; channel $arg_;\n}}}"),
     "t.conf:5:19: invalid value \"$arg_\" in \"channel\" directive"},
    {"bad_channel_name", "http { channel a/b {} }",
     "t.conf:1:16: invalid value \"a/b\" in \"channel\" directive, a channel name is 1-128 of "
     "A-Z a-z 0-9 _ . : -, not \".\" or \"..\""},
    {"dot_channel_name", "http { channel .. {} }",
     "t.conf:1:16: invalid value \"..\" in \"channel\" directive, a channel name is 1-128 of "
     "A-Z a-z 0-9 _ . : -, not \".\" or \"..\""},
    {"duplicate_channel", "http {\n  channel a {}\n  channel a { buffer 1; }\n}",
     "t.conf:3:11: duplicate channel \"a\""},
    {"source_kind", "http { channel a { source timer 1s; } }",
     "t.conf:1:27: invalid value \"timer\" in \"source\" directive, it must be \"clock\""},
    {"source_interval", "http { channel a { source clock 5ms; } }",
     "t.conf:1:33: invalid value \"5ms\" in \"source\" directive, it must be between 10ms and "
     "3650d"},
    {"buffer_range", "http { channel a { buffer 1000001; } }",
     "t.conf:1:27: invalid value \"1000001\" in \"buffer\" directive, it must be between 0 and "
     "1000000"},
    {"workers_zero", "worker_threads 0;",
     "t.conf:1:16: invalid value \"0\" in \"worker_threads\" directive, it must be between 1 and "
     "256"},
    {"workers_big", "worker_threads 257;",
     "t.conf:1:16: invalid value \"257\" in \"worker_threads\" directive, it must be between 1 and "
     "256"},
    {"workers_word", "worker_threads many;",
     "t.conf:1:16: invalid value \"many\" in \"worker_threads\" directive"},
    {"flag", "daemon yes;",
     "t.conf:1:8: invalid value \"yes\" in \"daemon\" directive, it must be \"on\" or \"off\""},
    {"flag_publish", loc("publish maybe;\n}}}"),
     "t.conf:5:9: invalid value \"maybe\" in \"publish\" directive, it must be \"on\" or \"off\""},
    {"log_level", "error_log stderr loud;",
     "t.conf:1:18: invalid value \"loud\" in \"error_log\" directive, it must be debug, info, "
     "notice, warn or error"},
    {"listen_address", "http {\nserver {\nlisten localhost:80;\n}}",
     "t.conf:3:8: invalid value \"localhost:80\" in \"listen\" directive"},
    {"listen_param", "http {\nserver {\nlisten 80 fast;\n}}",
     "t.conf:3:11: invalid parameter \"fast\""},
    {"listen_backlog", "http {\nserver {\nlisten 80 backlog=0;\n}}",
     "t.conf:3:11: invalid value \"backlog=0\" in \"listen\" directive, backlog must be between 1 "
     "and 65535"},
    {"listen_duplicate", "http {\nserver {\nlisten 80;\nlisten *:80;\n}}",
     "t.conf:4:8: duplicate listen \"*:80\""},
    {"listen_ephemeral_twice_ok", "http {\nserver {\nlisten 127.0.0.1:0;\nlisten 127.0.0.1:0;\n}}",
     "OK"},
    {"push_strategy", loc("push comet;\n}}}"),
     "t.conf:5:6: invalid value \"comet\" in \"push\" directive, it must be polling, "
     "long-polling, iframe, sse or websocket"},
    {"push_format", "http { push_format xml; }",
     "t.conf:1:20: invalid value \"xml\" in \"push_format\" directive, it must be \"raw\" or "
     "\"json\""},
    {"default_type", "http { default_type html; }",
     "t.conf:1:21: invalid value \"html\" in \"default_type\" directive"},
    // A raw CR LF inside a quoted value would end the Content-Type line of every response.
    {"default_type_crlf", "http { default_type \"text/plain\r\nSet-Cookie: x=1\"; }",
     "t.conf:1:21: control character in the value of \"default_type\" directive"},
    {"default_type_escaped_lf", "http { default_type \"text/plain\\nX: 1\"; }",
     "t.conf:1:21: control character in the value of \"default_type\" directive"},
    {"types_crlf", "http { types { \"text/x\r\nSet-Cookie: x=1\" x; } }",
     "t.conf:1:16: control character in a MIME type"},
    {"allow_origin_crlf", loc("allow_origin \"http://a\r\nX: 1\";\n}}}"),
     "t.conf:5:14: invalid value \"http://a\r\nX: 1\" in \"allow_origin\" directive, it must "
     "be \"*\" or scheme://host[:port]"},
    {"allow_cidr", loc("allow 10.0.0.0/40;\n}}}"),
     "t.conf:5:7: invalid value \"10.0.0.0/40\" in \"allow\" directive"},
    {"deny_word", loc("deny everyone;\n}}}"),
     "t.conf:5:6: invalid value \"everyone\" in \"deny\" directive"},
    {"allow_origin", loc("allow_origin https://a.example http://b/path;\n}}}"),
     "t.conf:5:32: invalid value \"http://b/path\" in \"allow_origin\" directive, it must be "
     "\"*\" or scheme://host[:port]"},
    {"ws_protocols", loc("ws_protocols chat \"a b\";\n}}}"),
     "t.conf:5:19: invalid value \"a b\" in \"ws_protocols\" directive"},
    {"index_slash", srv("index a/b.html;\n}}"),
     "t.conf:4:7: invalid value \"a/b.html\" in \"index\" directive, it must be a file name"},
    {"types_entry_block", "http { types { text/html html { } } }",
     "t.conf:1:16: directive \"text/html\" is not terminated by \";\""},
    {"types_entry_no_ext", "http { types { text/html; } }",
     "t.conf:1:16: invalid number of arguments in \"text/html\" directive"},
    {"types_bad_type", "http { types { html htm; } }", "t.conf:1:16: invalid MIME type \"html\""},
    {"types_bad_ext", "http { types { text/html .html; } }",
     "t.conf:1:26: invalid value \".html\" in \"text/html\" directive"},
    {"types_outside_http", "types { }", "t.conf:1:1: \"types\" directive is not allowed here"},
    {"channel_block_in_location", loc("channel c { }\n}}}"),
     "t.conf:5:1: directive \"channel\" is not terminated by \";\""},
    {"channel_plain_in_http", "http { channel c; }",
     "t.conf:1:8: directive \"channel\" has no opening \"{\""},
    {"empty_path", "pid \"\";", "t.conf:1:5: invalid value \"\" in \"pid\" directive"},
};

} // namespace

Test(config, every_error_names_file_line_and_column) {
    for (const ErrorCase& c : error_cases) {
        std::string got = load_error(c.input);
        cr_expect_str_eq(got.c_str(), c.want, "%s", c.name);
    }
}

Test(config, unreadable_main_file) {
    try {
        config::load_config("/nonexistent/herald.conf");
        cr_assert_fail("loaded a missing file");
    } catch (const config::ConfigError& e) {
        cr_expect_str_eq(e.what(),
                         "open() \"/nonexistent/herald.conf\" failed (No such file or directory)");
    }
}
