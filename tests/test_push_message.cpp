// Unit tests: push Message (push/message.hpp): text detection and the encodings built once
// per message and shared by every subscriber (WebSocket frames, SSE events, iframe calls, the
// JSON envelope), binary messages on the text encodings, event names, sharing across threads.
#include <criterion/criterion.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "push/encode.hpp"
#include "push/message.hpp"

using namespace std::string_literals;
using namespace std::string_view_literals;
using herald::config::PushFormat;
using herald::push::Message;

namespace {

std::string js(std::string_view s) {
    std::string out;
    herald::push::append_js_escaped(out, s);
    return out;
}

std::shared_ptr<Message> published(std::uint64_t id, std::string data, std::string type = "",
                                   std::string channel = "chat", std::string event = "") {
    auto m = std::make_shared<Message>(std::move(channel), std::move(data), std::move(type),
                                       std::move(event));
    m->id = id;
    m->epoch = 0x5f0c2a9e17b4;  // ids read "5f0c2a9e17b4-ID"
    return m;
}

// The raw iframe call's tail is `tail`, and its chunked forms frame exactly that.
void expect_iframe_tail(const Message& m, const std::string& tail) {
    const herald::push::IframeCall c = m.iframe_call(PushFormat::raw);
    cr_expect(c.tail == tail, "tail %s", std::string(c.tail).c_str());
    std::string chunked_tail;
    herald::push::append_chunk(chunked_tail, tail);
    cr_expect(c.chunked_tail == chunked_tail);
    cr_expect(c.chunked_default ==
              herald::push::iframe_call_prefix(herald::push::default_callback, true) +
                  chunked_tail);
}

} // namespace

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

// A binary message (a non-text type, or bytes that are not UTF-8) keeps every byte
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

        expect_iframe_tail(*m, "(\"" + b64 + "\",\"5f0c2a9e17b4-4\",\"base64\")</script>");
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
    expect_iframe_tail(*m, "(\"\\u003c\\u002fscript\\u003e\\u003cscript\\u003ealert(1)"
                           "\\u003c\\u002fscript\\u003e\",\"5f0c2a9e17b4-12\")</script>");
    const herald::push::IframeCall c = m->iframe_call(PushFormat::raw);
    // The only "</" in the call is the closing tag the encoder wrote itself.
    const std::string whole = "<script>parent.herald_push" + std::string(c.tail);
    cr_expect(whole.find("</") == whole.rfind("</script>"));
    cr_expect(whole.find("</") == whole.size() - 9);

    const herald::push::IframeCall j = m->iframe_call(PushFormat::json);
    cr_expect(j.tail.substr(0, 20) == "(\"{\\u0022id\\u0022:\\u", "%s",
              std::string(j.tail).c_str());
    cr_expect(j.tail.find("</") == j.tail.size() - 9);
}

Test(push_message, event_names_are_checked) {
    using herald::push::check_event_name;
    using herald::push::EventNameCheck;
    for (std::string_view ok : {"a"sv, "price.update"sv, "user:42"sv, "A_b-9"sv, "messages"sv,
                                "binary2"sv, "herald"sv, "x-herald-y"sv}) {
        cr_expect(check_event_name(ok) == EventNameCheck::ok, "%.*s", int(ok.size()), ok.data());
    }
    cr_expect(check_event_name(std::string(64, 'e')) == EventNameCheck::ok);
    for (std::string_view bad : {""sv, "a b"sv, "a\nevent: x"sv, "a\r"sv, "\"x"sv, "x'"sv,
                                 "</script>"sv, "a\\b"sv, "caf\xc3\xa9"sv, "a\0b"sv, "a,b"sv,
                                 "a;b"sv, "{}"sv}) {
        cr_expect(check_event_name(bad) == EventNameCheck::invalid, "%zu bytes", bad.size());
    }
    cr_expect(check_event_name(std::string(65, 'e')) == EventNameCheck::invalid);
    for (std::string_view r : {"message"sv, "binary"sv, "herald-missed"sv, "herald-expired"sv,
                               "herald-revoked"sv, "herald-x"sv, "herald-"sv}) {
        cr_expect(check_event_name(r) == EventNameCheck::reserved, "%.*s", int(r.size()),
                  r.data());
    }
}

// A named message carries its name in every form; an unnamed one is unchanged (above).
Test(push_message, named_messages) {
    auto m = published(7, "a\nb", "", "chat", "price.update");
    const std::string env =
        R"({"id":"5f0c2a9e17b4-7","channel":"chat","event":"price.update","data":"a\nb"})";
    cr_expect(m->json_envelope() == env, "%s", std::string(m->json_envelope()).c_str());
    cr_expect(m->body(PushFormat::json) == env);
    cr_expect(m->body(PushFormat::raw) == "a\nb");
    cr_expect(m->ws_frame(PushFormat::json).substr(2) == env);
    cr_expect(m->ws_frame(PushFormat::raw).substr(2) == "a\nb");
    cr_expect(m->sse_event(PushFormat::raw, false) ==
              "id: 5f0c2a9e17b4-7\nevent: price.update\ndata: a\ndata: b\n\n");
    std::string chunk;
    herald::push::append_chunk(chunk, m->sse_event(PushFormat::raw, false));
    cr_expect(m->sse_event(PushFormat::raw, true) == chunk);
    cr_expect(m->sse_event(PushFormat::json, false) == "id: 5f0c2a9e17b4-7\ndata: " + env + "\n\n",
              "json: the name is in the envelope, the event stays a message");
    expect_iframe_tail(*m, "(\"a\\nb\",\"5f0c2a9e17b4-7\",\"\",\"price.update\")</script>");
    cr_expect(m->iframe_call(PushFormat::json).tail ==
              "(\"" + js(env) + "\",\"5f0c2a9e17b4-7\")</script>");

    // Binary: SSE keeps `event: binary` (the name is only in the envelope); iframe gets both.
    auto b = published(8, "\x00\xff"s, "application/octet-stream", "chat", "blob");
    const std::string benv =
        R"({"id":"5f0c2a9e17b4-8","channel":"chat","event":"blob","data":"AP8=","encoding":"base64"})";
    cr_expect(b->json_envelope() == benv, "%s", std::string(b->json_envelope()).c_str());
    cr_expect(b->sse_event(PushFormat::raw, false) ==
              "id: 5f0c2a9e17b4-8\nevent: binary\ndata: AP8=\n\n");
    cr_expect(b->sse_event(PushFormat::json, false) == "id: 5f0c2a9e17b4-8\ndata: " + benv + "\n\n");
    cr_expect(b->iframe_call(PushFormat::raw).tail ==
              "(\"AP8=\",\"5f0c2a9e17b4-8\",\"base64\",\"blob\")</script>");
    cr_expect(b->ws_frame(PushFormat::raw).substr(2) == "\x00\xff"s);
    cr_expect(b->ws_frame(PushFormat::json).substr(2) == benv);
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
