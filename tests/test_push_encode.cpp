// Unit tests: push escapers and validators (push/encode.hpp) and Message encodings.
#include <criterion/criterion.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "push/encode.hpp"
#include "push/message.hpp"

using namespace std::string_literals;
using namespace std::string_view_literals;
using herald::PushFormat;
using herald::push::Message;

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

std::shared_ptr<Message> published(std::uint64_t id, std::string data, std::string type = "",
                                   std::string channel = "chat") {
    auto m = std::make_shared<Message>(std::move(channel), std::move(data), std::move(type));
    m->id = id;
    m->epoch = 0x5f0c2a9e17b4;  // ids read "5f0c2a9e17b4-ID"
    return m;
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

Test(push_message, text_detection) {
    static const struct {
        std::string_view type, data;
        bool text;
    } cases[] = {
        {"", "x", true},
        {"text/plain", "x", true},
        {"TEXT/HTML; charset=utf-8", "x", true},
        {"application/json", "{}", true},
        {" application/javascript ;q", "x", true},
        {"application/octet-stream", "x", false},
        {"image/png", "x", false},
        {"text/plain", "\xff", false},
        {"", "\xc0\xaf", false},
    };
    for (const auto& c : cases) {
        Message m("c", std::string(c.data), std::string(c.type));
        cr_expect(m.is_text() == c.text, "type \"%s\"", std::string(c.type).c_str());
    }
}

Test(push_message, websocket_frames) {
    auto m = published(17, "hi");
    cr_expect(m->ws_frame(PushFormat::raw) == "\x81\x02hi"sv);
    const std::string env = R"({"id":"5f0c2a9e17b4-17","channel":"chat","data":"hi"})";
    cr_expect(m->json_envelope() == env);
    cr_expect(m->body(PushFormat::json) == env);
    cr_expect(m->body(PushFormat::raw) == "hi");
    const std::string_view jf = m->ws_frame(PushFormat::json);
    cr_expect(jf.size() == env.size() + 2 && jf[0] == '\x81' && jf[1] == char(env.size()));
    cr_expect(jf.substr(2) == env);

    auto bin = published(3, "\x00\xff"s, "application/octet-stream");
    cr_expect(bin->ws_frame(PushFormat::raw) == "\x82\x02\x00\xff"sv);
    cr_expect(bin->ws_frame(PushFormat::json)[0] == '\x81', "json envelope is always text");
    cr_expect(bin->json_envelope() ==
              R"({"id":"5f0c2a9e17b4-3","channel":"chat","data":"AP8=","encoding":"base64"})");
}

// Issue 12: a binary message (a non-text type, or bytes that are not UTF-8) keeps every byte
// on the text encodings: base64 with "encoding":"base64" in the envelope, an "event: binary"
// SSE event, an iframe call with a third argument "base64". Text messages are unchanged.
Test(push_message, binary_messages_are_carried_in_base64) {
    // "\xfb\xff" gives base64 "+/8=": '+', '/' and '=' all appear.
    const std::string bytes = "\x00\xff<\"\r\n</script>\xfb\xff"s;
    const std::string b64 = "AP88Ig0KPC9zY3JpcHQ++/8=";
    for (const char* type : {"application/octet-stream", "text/plain", ""}) {
        auto m = published(4, bytes, type);
        cr_assert_not(m->is_text(), "%s", type);
        const std::string env = R"({"id":"5f0c2a9e17b4-4","channel":"chat","data":")" + b64 +
                                R"(","encoding":"base64"})";
        cr_expect(m->json_envelope() == env, "%s: %s", type,
                  std::string(m->json_envelope()).c_str());
        cr_expect(m->body(PushFormat::json) == env);
        cr_expect(m->body(PushFormat::raw) == bytes, "raw bodies are the bytes");
        cr_expect(m->ws_frame(PushFormat::raw).substr(2) == bytes);
        cr_expect(m->ws_frame(PushFormat::raw)[0] == '\x82');
        cr_expect(m->ws_frame(PushFormat::json).substr(2) == env);

        cr_expect(m->sse_event(PushFormat::raw, false) ==
                  "id: 5f0c2a9e17b4-4\nevent: binary\ndata: " + b64 + "\n\n");
        std::string chunk;
        herald::push::append_chunk(chunk, m->sse_event(PushFormat::raw, false));
        cr_expect(m->sse_event(PushFormat::raw, true) == chunk);
        cr_expect(m->sse_event(PushFormat::json, false) ==
                  "id: 5f0c2a9e17b4-4\ndata: " + env + "\n\n");

        const herald::push::IframeCall c = m->iframe_call(PushFormat::raw);
        const std::string tail = "(\"" + b64 + "\",\"5f0c2a9e17b4-4\",\"base64\")</script>";
        cr_expect(c.tail == tail, "tail %s", std::string(c.tail).c_str());
        std::string chunked_tail;
        herald::push::append_chunk(chunked_tail, tail);
        cr_expect(c.chunked_tail == chunked_tail);
        cr_expect(c.chunked_default ==
                  herald::push::iframe_call_prefix(herald::push::default_callback, true) +
                      chunked_tail);
        const herald::push::IframeCall j = m->iframe_call(PushFormat::json);
        cr_expect(j.tail == "(\"" + js(env) + "\",\"5f0c2a9e17b4-4\")</script>", "json tail %s",
                  std::string(j.tail).c_str());
    }

    // Text stays text: no encoding field, no named event, two arguments.
    auto t = published(5, "h\xc3\xa9", "text/plain; charset=utf-8");
    cr_expect(t->json_envelope() ==
              R"({"id":"5f0c2a9e17b4-5","channel":"chat","data":")" "h\xc3\xa9" R"("})");
    cr_expect(t->sse_event(PushFormat::raw, false) == "id: 5f0c2a9e17b4-5\ndata: h\xc3\xa9\n\n");
    cr_expect(t->iframe_call(PushFormat::raw).tail ==
              "(\"h\xc3\xa9\",\"5f0c2a9e17b4-5\")</script>");

    // An empty binary message is an empty base64 string.
    auto e = published(6, "", "image/png");
    cr_expect(e->json_envelope() ==
              R"({"id":"5f0c2a9e17b4-6","channel":"chat","data":"","encoding":"base64"})");
    cr_expect(e->sse_event(PushFormat::raw, false) ==
              "id: 5f0c2a9e17b4-6\nevent: binary\ndata: \n\n");
    cr_expect(e->iframe_call(PushFormat::raw).tail ==
              "(\"\",\"5f0c2a9e17b4-6\",\"base64\")</script>");
}

Test(push_message, websocket_frame_lengths) {
    for (std::size_t len : {0u, 125u, 126u, 65535u, 65536u, 70000u}) {
        auto m = published(1, std::string(len, 'x'));
        const std::string_view f = m->ws_frame(PushFormat::raw);
        const std::size_t head = len <= 125 ? 2 : len <= 65535 ? 4 : 10;
        cr_expect(f.size() == head + len, "len %zu", len);
        cr_expect(f.substr(head) == m->data, "len %zu", len);
        cr_expect(static_cast<unsigned char>(f[0]) == 0x81);
    }
}

Test(push_message, sse_events) {
    auto m = published(5, "a\nb");
    cr_expect(m->sse_event(PushFormat::raw, false) == "id: 5f0c2a9e17b4-5\ndata: a\ndata: b\n\n");
    cr_expect(m->sse_event(PushFormat::raw, true) ==
              "24\r\nid: 5f0c2a9e17b4-5\ndata: a\ndata: b\n\n\r\n");
    cr_expect(m->sse_event(PushFormat::json, false) ==
              "id: 5f0c2a9e17b4-5\ndata: {\"id\":\"5f0c2a9e17b4-5\","
              "\"channel\":\"chat\",\"data\":\"a\\nb\"}\n\n");
    const std::string_view framed = m->sse_event(PushFormat::json, true);
    const std::string_view bare = m->sse_event(PushFormat::json, false);
    cr_expect(framed.size() > bare.size());
    cr_expect(framed.substr(framed.find("\r\n") + 2, bare.size()) == bare);
    cr_expect(bare.data() > framed.data() && bare.data() < framed.data() + framed.size(),
              "the bare event is a view into the framed bytes");
}

Test(push_message, iframe_calls) {
    auto m = published(12, "</script><script>alert(1)</script>");
    const herald::push::IframeCall c = m->iframe_call(PushFormat::raw);
    const std::string tail = "(\"\\u003c\\u002fscript\\u003e\\u003cscript\\u003ealert(1)"
                             "\\u003c\\u002fscript\\u003e\",\"5f0c2a9e17b4-12\")</script>";
    cr_expect(c.tail == tail, "tail %s", std::string(c.tail).c_str());
    std::string chunked_tail;
    herald::push::append_chunk(chunked_tail, tail);
    cr_expect(c.chunked_tail == chunked_tail);
    const std::string prefix =
        herald::push::iframe_call_prefix(herald::push::default_callback, true);
    cr_expect(c.chunked_default == prefix + chunked_tail);
    // The only "</" in the call is the closing tag the encoder wrote itself.
    const std::string whole = "<script>parent.herald_push" + std::string(c.tail);
    cr_expect(whole.find("</") == whole.rfind("</script>"));
    cr_expect(whole.find("</") == whole.size() - 9);

    const herald::push::IframeCall j = m->iframe_call(PushFormat::json);
    cr_expect(j.tail.substr(0, 20) == "(\"{\\u0022id\\u0022:\\u", "%s",
              std::string(j.tail).c_str());
    cr_expect(j.tail.find("</") == j.tail.size() - 9);
}

// Every thread asking for an encoding gets the same bytes, built once.
Test(push_message, encodings_are_shared_across_threads, .timeout = 10.0) {
    auto m = published(9, std::string(1000, 'q'));
    std::shared_ptr<const Message> cm = m;
    std::vector<const char*> seen(8);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < seen.size(); ++i)
        threads.emplace_back([&, i] { seen[i] = cm->sse_event(PushFormat::raw, true).data(); });
    for (std::thread& t : threads) t.join();
    for (const char* p : seen) cr_expect(p == seen[0]);
    cr_expect(cm->sse_event(PushFormat::raw, true).data() == seen[0]);
}
