// Unit tests for http/session with a fake SessionHost, over a socketpair, a real EventLoop and a
// manual clock: pipelined requests answered in order, keep-alive against `Connection: close` and
// HTTP/1.0, bodies (Content-Length and chunked) read before dispatch, the 413, 414, 431 and 400
// answers that close the connection, and the header, body and keep-alive timeouts (herald closes
// without an answer). The host's dispatch() answers every request with what it received.
#include <criterion/criterion.h>

#include <cstdlib>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "http/access_log.hpp"
#include "http/response.hpp"
#include "http/router.hpp"
#include "http/session.hpp"
#include "http/session_host.hpp"
#include "support/connection_rig.hpp"
#include "support/feed.hpp"

using namespace herald;
using namespace herald::http;
using namespace std::chrono_literals;

namespace {

// Small limits so that each one is easy to pass; the timeouts are what the clock advances by.
const char* kConf = R"(
http {
    server {
        listen 127.0.0.1:8080;
        root /nonexistent;
        client_max_body_size 16;
        large_header_buffer 1k;
        max_header_size 1k;
        max_headers 8;
        client_header_timeout 10s;
        client_body_timeout 20s;
        keepalive_timeout 30s;
        location / { }
    }
}
)";
constexpr auto header_timeout = 10s;
constexpr auto body_timeout = 20s;
constexpr auto keepalive_timeout = 30s;

std::shared_ptr<const Router> make_routes() {
    try {
        return std::make_shared<const Router>(config::load_config_string(kConf, "session.conf"),
                                              std::vector<std::string>{"127.0.0.1:8080"});
    } catch (const config::ConfigError& e) {
        cr_assert_fail("unexpected config error: %s", e.what());
    }
    std::abort();
}

// What dispatch() saw of one request.
struct Seen {
    std::string method, path, body, tag;  // tag: the X-Tag field
    bool http10 = false;
};

// A held request, answered when the test says so. It counts its own destruction.
class HeldResponder final : public Responder {
public:
    HeldResponder(HttpSession& s, int& destroyed) : s_(s), destroyed_(destroyed) {}
    ~HeldResponder() override { ++destroyed_; }
    // Answers from inside the responder, as a long-poll's delivery does, then uses itself.
    void answer() {
        ResponseHead head(200);
        s_.respond(std::move(head), "late");
        ++answers_;  // *this must still be alive here
    }
    void cancel() noexcept override { ++cancels; }
    int cancels = 0;

private:
    HttpSession& s_;
    int& destroyed_;
    int answers_ = 0;
};

// The worker's side: one routes snapshot, listener 0 = the config's listen, a disabled access
// log. dispatch() records the request and answers 200 with "<path>|<body>"; /held is held by a
// HeldResponder; /file answers with `file` through respond_file().
class FakeHost final : public SessionHost {
public:
    explicit FakeHost(EventLoop& loop) : routes_(make_routes()), log_(loop) {}

    const std::shared_ptr<const Router>& routes_ptr() const noexcept override { return routes_; }
    AccessLog& access_log() noexcept override { return log_; }
    void count_request() noexcept override { ++requests; }
    void dispatch(HttpSession& s) override {
        const Request& req = s.request();
        seen.push_back({std::string(req.method_name), std::string(s.path()),
                        std::string(s.body()), std::string(req.header("X-Tag")), s.http10()});
        if (s.path() == "/held") {
            auto r = std::make_unique<HeldResponder>(s, destroyed);
            held = r.get();
            s.hold(std::move(r));
            return;
        }
        if (s.path() == "/wait") {  // undecided until the test resumes it
            auto r = std::make_unique<HeldResponder>(s, destroyed);
            held = r.get();
            s.suspend(std::move(r));
            return;
        }
        if (s.path() == "/file") {
            ResponseHead head(200);
            s.respond_file(std::move(head), file, 1, 5);
            return;
        }
        ResponseHead head(200);
        head.header("Content-Type", "text/plain");
        s.respond(std::move(head), std::string(s.path()) + "|" + std::string(s.body()));
    }
    // Kept, not destroyed: the test checks when the session hands a responder over.
    void retire(std::unique_ptr<Responder> r) noexcept override { retired.push_back(std::move(r)); }

    std::vector<Seen> seen;
    int requests = 0;
    HeldResponder* held = nullptr;
    int destroyed = 0;
    std::vector<std::unique_ptr<Responder>> retired;
    std::shared_ptr<const net::OpenFile> file;

private:
    std::shared_ptr<const Router> routes_;
    AccessLog log_;
};

// One response as the peer reads it.
struct Response {
    int status = 0;
    std::string head;  // status line and fields, up to the blank line
    std::string body;  // Content-Length bytes
    bool has(std::string_view field) const { return head.find(field) != std::string::npos; }
};

// Splits what the peer read into responses (each with a Content-Length); fails on leftovers.
std::vector<Response> parse_responses(std::string_view in) {
    std::vector<Response> out;
    while (!in.empty()) {
        std::size_t end = in.find("\r\n\r\n");
        cr_assert_neq(end, std::string_view::npos, "incomplete head: \"%.*s\"",
                      static_cast<int>(in.size()), in.data());
        Response r;
        r.head.assign(in.substr(0, end + 2));
        cr_assert(r.head.rfind("HTTP/1.1 ", 0) == 0, "status line: \"%s\"", r.head.c_str());
        r.status = std::atoi(r.head.c_str() + 9);
        in.remove_prefix(end + 4);
        std::size_t cl = r.head.find("Content-Length: ");
        if (cl != std::string::npos) {
            std::size_t n = std::strtoull(r.head.c_str() + cl + 16, nullptr, 10);
            cr_assert_geq(in.size(), n, "short body");
            r.body.assign(in.substr(0, n));
            in.remove_prefix(n);
        }
        out.push_back(std::move(r));
    }
    return out;
}

// The host is a base so that it outlives the connection and its session (bases are destroyed
// after the derived part, and ConnectionRig's teardown closes the connection).
struct HostBase {
    explicit HostBase(EventLoop& loop) : host(loop) {}
    FakeHost host;
};

struct HttpRig : test::ConnectionRig, HostBase {
    HttpSession* session = nullptr;
    HttpRig() : HostBase(loop) {
        auto s = std::make_unique<HttpSession>(*conn, host);
        session = s.get();
        conn->start(std::move(s));
    }
    ~HttpRig() {
        // Close while the host is still there; ConnectionRig then reaps and checks.
        if (!conn->closed()) conn->close();
        loop.run_once(0);
    }
    HttpRig(const HttpRig&) = delete;
    HttpRig& operator=(const HttpRig&) = delete;

    // Sends s, lets the loop read, dispatch and flush, and returns what the peer got.
    std::vector<Response> exchange(std::string_view s, bool* eof = nullptr) {
        send(s);
        spin();
        return parse_responses(receive(eof));
    }
};

constexpr std::string_view get_a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
constexpr std::string_view get_b = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
constexpr std::string_view get_c = "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";

} // namespace

// ---- pipelining ---------------------------------------------------------------------------

Test(http_session, two_pipelined_requests_are_answered_in_order, .timeout = 5.0) {
    HttpRig r;
    bool eof = false;
    auto got = r.exchange(std::string(get_a) + std::string(get_b), &eof);
    cr_assert_eq(got.size(), 2u);
    cr_expect_eq(got[0].status, 200);
    cr_expect(got[0].body == "/a|", "\"%s\"", got[0].body.c_str());
    cr_expect(got[1].body == "/b|", "\"%s\"", got[1].body.c_str());
    cr_expect(got[0].has("Connection: keep-alive\r\n") && got[1].has("Connection: keep-alive\r\n"));
    cr_expect(!eof && !r.conn->closing(), "HTTP/1.1 keeps the connection open");
    cr_expect_eq(r.host.requests, 2);
}

Test(http_session, three_pipelined_requests_with_a_body_between, .timeout = 5.0) {
    HttpRig r;
    std::string in = std::string(get_a) +
                     "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
                     std::string(get_c);
    auto got = r.exchange(in);
    cr_assert_eq(got.size(), 3u);
    cr_expect(got[0].body == "/a|");
    cr_expect(got[1].body == "/p|hello", "\"%s\"", got[1].body.c_str());
    cr_expect(got[2].body == "/c|", "the body is not parsed as a request: \"%s\"",
              got[2].body.c_str());
    cr_assert_eq(r.host.seen.size(), 3u);
    cr_expect(r.host.seen[1].method == "POST");
}

Test(http_session, pipelined_requests_split_across_reads, .timeout = 5.0) {
    HttpRig r;
    std::string in = std::string(get_a) + std::string(get_b) + std::string(get_c);
    std::string got;
    // Cut inside the second head and inside the third.
    for (std::string_view part : {std::string_view(in).substr(0, 40),
                                  std::string_view(in).substr(40, 30),
                                  std::string_view(in).substr(70)}) {
        r.send(part);
        r.spin();
        got += r.receive();
    }
    auto resp = parse_responses(got);
    cr_assert_eq(resp.size(), 3u);
    cr_expect(resp[0].body == "/a|" && resp[1].body == "/b|" && resp[2].body == "/c|");
}

// ---- keep-alive ---------------------------------------------------------------------------

Test(http_session, connection_close_closes_after_the_response, .timeout = 5.0) {
    HttpRig r;
    bool eof = false;
    auto got = r.exchange("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &eof);
    cr_assert_eq(got.size(), 1u);
    cr_expect(got[0].has("Connection: close\r\n"));
    cr_expect(got[0].body == "/a|");
    cr_expect(eof, "our side shut down writing after the response");
    cr_assert_eq(r.host.seen.size(), 1u);
}

Test(http_session, requests_after_connection_close_are_ignored, .timeout = 5.0) {
    HttpRig r;
    bool eof = false;
    auto got = r.exchange("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" +
                              std::string(get_b),
                          &eof);
    cr_assert_eq(got.size(), 1u, "RFC 9112 §9.6: nothing after the closing response");
    cr_expect(eof);
    cr_expect_eq(r.host.requests, 1);
}

Test(http_session, http10_closes_unless_it_asks_for_keep_alive, .timeout = 5.0) {
    {
        HttpRig r;
        bool eof = false;
        auto got = r.exchange("GET /a HTTP/1.0\r\n\r\n", &eof);
        cr_assert_eq(got.size(), 1u);
        cr_expect(got[0].has("Connection: close\r\n"));
        cr_expect(got[0].body == "/a|");
        cr_expect(eof);
        cr_assert_eq(r.host.seen.size(), 1u);
        cr_expect(r.host.seen[0].http10);
    }
    {
        HttpRig r;
        bool eof = false;
        auto got = r.exchange("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                              "GET /b HTTP/1.0\r\n\r\n",
                              &eof);
        cr_assert_eq(got.size(), 2u);
        cr_expect(got[0].has("Connection: keep-alive\r\n"));
        cr_expect(got[1].has("Connection: close\r\n"));
        cr_expect(got[1].body == "/b|");
        cr_expect(eof);
    }
}

// ---- bodies -------------------------------------------------------------------------------

Test(http_session, content_length_body_is_read_before_dispatch, .timeout = 5.0) {
    HttpRig r;
    r.send("POST /p HTTP/1.1\r\nHost: x\r\nX-Tag: kept\r\nContent-Length: 11\r\n\r\nhello");
    r.spin();
    cr_expect(r.host.seen.empty(), "not dispatched before the whole body");
    cr_expect(r.receive().empty());
    auto got = r.exchange(" world");
    cr_assert_eq(got.size(), 1u);
    cr_expect(got[0].body == "/p|hello world", "\"%s\"", got[0].body.c_str());
    cr_expect(!r.conn->closing());
    cr_assert_eq(r.host.seen.size(), 1u);
    // The head was read with the first bytes; its views must survive the later reads.
    cr_expect(r.host.seen[0].method == "POST" && r.host.seen[0].tag == "kept", "\"%s\" \"%s\"",
              r.host.seen[0].method.c_str(), r.host.seen[0].tag.c_str());
}

Test(http_session, chunked_body_is_decoded_before_dispatch, .timeout = 5.0) {
    HttpRig r;
    r.send("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    r.spin();
    cr_expect(r.host.seen.empty(), "not dispatched before the last chunk");
    auto got = r.exchange("6\r\n world\r\n0\r\n\r\n" + std::string(get_b));
    cr_assert_eq(got.size(), 2u);
    cr_expect(got[0].body == "/p|hello world", "\"%s\"", got[0].body.c_str());
    cr_expect(got[1].body == "/b|");
}

Test(http_session, expect_100_continue_is_answered_before_the_body, .timeout = 5.0) {
    HttpRig r;
    r.send("PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    r.spin();
    cr_expect(r.receive() == "HTTP/1.1 100 Continue\r\n\r\n");
    auto got = r.exchange("ok");
    cr_assert_eq(got.size(), 1u);
    cr_expect(got[0].body == "/p|ok");
}

Test(http_session, content_length_over_client_max_body_size_is_413, .timeout = 5.0) {
    HttpRig r;
    bool eof = false;
    auto got = r.exchange("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n"
                          "0123456789abcdefg" + std::string(get_b),
                          &eof);
    cr_assert_eq(got.size(), 1u, "the unread body and what follows are discarded");
    cr_expect_eq(got[0].status, 413);
    cr_expect(got[0].has("Connection: close\r\n"));
    cr_expect(eof);
    cr_expect(r.host.seen.empty(), "never dispatched");
}

Test(http_session, content_length_at_client_max_body_size_is_read, .timeout = 5.0) {
    HttpRig r;
    auto got = r.exchange("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n"
                          "0123456789abcdef");
    cr_assert_eq(got.size(), 1u);
    cr_expect_eq(got[0].status, 200);
    cr_expect(got[0].body == "/p|0123456789abcdef");
}

Test(http_session, chunked_body_over_client_max_body_size_is_413, .timeout = 5.0) {
    HttpRig r;
    bool eof = false;
    auto got = r.exchange("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
                          &eof);
    cr_assert_eq(got.size(), 1u);
    cr_expect_eq(got[0].status, 413);
    cr_expect(got[0].has("Connection: close\r\n"));
    cr_expect(eof);
    cr_expect(r.host.seen.empty());
}

// ---- held responses and static files ----------------------------------------------------

Test(http_session, a_held_response_is_retired_to_the_host_not_destroyed_inline, .timeout = 5.0) {
    HttpRig r;
    r.send("GET /held HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(get_b));
    r.spin();
    cr_assert(r.host.held != nullptr, "held");
    cr_expect(r.receive().empty(), "nothing sent while held; /b waits behind it");
    r.host.held->answer();  // runs inside the responder: it must outlive its own respond()
    cr_expect_eq(r.host.retired.size(), 1u, "the ended responder went to the host");
    cr_expect_eq(r.host.destroyed, 0, "and was not destroyed while it ran");
    r.spin();
    auto got = parse_responses(r.receive());
    cr_assert_eq(got.size(), 2u, "the held answer, then the pipelined request");
    cr_expect(got[0].body == "late" && got[0].has("Connection: keep-alive\r\n"));
    cr_expect(got[1].body == "/b|");
    r.host.retired.clear();
    cr_expect_eq(r.host.destroyed, 1);
}

Test(http_session, a_suspended_request_keeps_its_head_and_body_until_resumed, .timeout = 5.0) {
    HttpRig r;
    r.send("GET /wait HTTP/1.1\r\nHost: x\r\nX-Tag: first\r\n\r\n" + std::string(get_b));
    r.spin();
    cr_assert(r.host.held != nullptr, "suspended");
    cr_expect(r.receive().empty(), "nothing sent while suspended; /b waits behind it");
    r.send("POST /wait HTTP/1.1\r\nHost: x\r\nX-Tag: later\r\nContent-Length: 3\r\n\r\nabc");
    r.spin();
    cr_expect_eq(r.host.seen.size(), 1u, "input is not parsed while suspended");
    auto answer = [](HttpSession& s) {
        ResponseHead head(200);
        s.respond(std::move(head), std::string(s.request().header("X-Tag")) + "@" +
                                       std::string(s.path()) + ":" + std::string(s.body()));
    };
    r.session->resume(answer);
    cr_expect_eq(r.host.retired.size(), 1u, "the waiter went to the host");
    cr_expect_eq(r.host.destroyed, 0, "and was not destroyed inline");
    r.spin();  // /b, then the POST, suspended in turn (its head and body kept)
    cr_assert_eq(r.host.seen.size(), 3u);
    r.session->resume(answer);
    r.spin();
    auto got = parse_responses(r.receive());
    cr_assert_eq(got.size(), 3u);
    cr_expect(got[0].body == "first@/wait:", "%s", got[0].body.c_str());
    cr_expect(got[1].body == "/b|");
    cr_expect(got[2].body == "later@/wait:abc", "%s", got[2].body.c_str());
}

Test(http_session, closing_a_held_request_cancels_and_retires_its_responder, .timeout = 5.0) {
    HttpRig r;
    r.send("GET /held HTTP/1.1\r\nHost: x\r\n\r\n");
    r.spin();
    cr_assert(r.host.held != nullptr);
    HeldResponder* held = r.host.held;
    r.conn->close();
    cr_assert_eq(r.host.retired.size(), 1u);
    cr_expect_eq(held->cancels, 1, "cancelled before it was handed over");
    cr_expect_eq(r.host.destroyed, 0);
}

namespace {

// A temporary file with known bytes, opened for respond_file().
std::shared_ptr<const net::OpenFile> open_test_file(std::string_view bytes) {
    std::FILE* f = std::tmpfile();
    cr_assert(f != nullptr);
    cr_assert_eq(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    cr_assert_eq(std::fflush(f), 0);
    auto file = std::make_shared<net::OpenFile>();
    file->fd = ::dup(::fileno(f));
    std::fclose(f);
    cr_assert_geq(file->fd, 0);
    return file;
}

} // namespace

Test(http_session, a_file_response_follows_the_same_keep_alive_rules, .timeout = 5.0) {
    {
        HttpRig r;
        r.host.file = open_test_file("0123456789");
        bool eof = false;
        auto got = r.exchange("GET /file HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(get_b), &eof);
        cr_assert_eq(got.size(), 2u);
        cr_expect(got[0].body == "12345", "\"%s\"", got[0].body.c_str());
        cr_expect(got[0].has("Content-Length: 5\r\n") && got[0].has("Connection: keep-alive\r\n"));
        cr_expect(got[1].body == "/b|");
        cr_expect(!eof);
    }
    {
        HttpRig r;
        r.host.file = open_test_file("0123456789");
        bool eof = false;
        auto got = r.exchange("GET /file HTTP/1.0\r\n\r\n", &eof);
        cr_assert_eq(got.size(), 1u);
        cr_expect(got[0].body == "12345");
        cr_expect(got[0].has("Connection: close\r\n"), "HTTP/1.0 without keep-alive closes");
        cr_expect(eof);
    }
    {
        HttpRig r;
        r.host.file = open_test_file("0123456789");
        r.send("HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n");
        r.spin();
        std::string in = r.receive();
        cr_expect(in.find("Content-Length: 5\r\n") != std::string::npos);
        cr_expect(in.size() >= 4 && in.substr(in.size() - 4) == "\r\n\r\n", "HEAD: no body");
    }
}

// ---- errors that close the connection -----------------------------------------------------

Test(http_session, malformed_request_line_is_400_and_closes, .timeout = 5.0) {
    HttpRig r;
    bool eof = false;
    auto got = r.exchange("GET/a HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(get_b), &eof);
    cr_assert_eq(got.size(), 1u);
    cr_expect_eq(got[0].status, 400);
    cr_expect(got[0].has("Connection: close\r\n"));
    cr_expect(got[0].body == error_page(400));
    cr_expect(eof, "closed after the 400");
    cr_expect(r.host.seen.empty());
    cr_expect_eq(r.host.requests, 0, "a head that does not parse is not counted");
    r.client.reset();  // the peer's close ends the lingering close
    r.spin();
    cr_expect(r.conn->closed());
}

Test(http_session, a_400_after_a_good_request_answers_both_in_order, .timeout = 5.0) {
    HttpRig r;
    bool eof = false;
    auto got = r.exchange(std::string(get_a) + "BAD\r\n\r\n", &eof);
    cr_assert_eq(got.size(), 2u);
    cr_expect_eq(got[0].status, 200);
    cr_expect_eq(got[1].status, 400);
    cr_expect(eof);
}

Test(http_session, header_block_over_max_header_size_is_431, .timeout = 5.0) {
    HttpRig r;
    bool eof = false;
    auto got = r.exchange("GET /a HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1100, 'v') +
                              "\r\n\r\n",
                          &eof);
    cr_assert_eq(got.size(), 1u);
    cr_expect_eq(got[0].status, 431);
    cr_expect(got[0].has("Connection: close\r\n"));
    cr_expect(eof);
    cr_expect(r.host.seen.empty());
}

Test(http_session, more_fields_than_max_headers_is_431, .timeout = 5.0) {
    HttpRig r;
    std::string in = "GET /a HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 8; ++i)
        in += "X-F" + std::to_string(i) + ": v\r\n";
    bool eof = false;
    auto got = r.exchange(in + "\r\n", &eof);
    cr_assert_eq(got.size(), 1u);
    cr_expect_eq(got[0].status, 431);
    cr_expect(eof);
}

Test(http_session, request_line_over_large_header_buffer_is_414, .timeout = 5.0) {
    HttpRig r;
    bool eof = false;
    auto got = r.exchange("GET /" + std::string(1100, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", &eof);
    cr_assert_eq(got.size(), 1u);
    cr_expect_eq(got[0].status, 414);
    cr_expect(got[0].has("Connection: close\r\n"));
    cr_expect(eof);
}

// ---- timeouts -----------------------------------------------------------------------------

Test(http_session, an_idle_connection_closes_at_client_header_timeout, .timeout = 5.0) {
    HttpRig r;
    r.clock.advance(header_timeout - 1ms);
    r.spin();
    cr_expect(!r.conn->closed());
    r.clock.advance(1ms);
    r.spin();
    cr_expect(r.conn->closed(), "no request at all within client_header_timeout");
    // The fd itself is closed when the Server reaps the connection (not in this rig).
    cr_expect(r.receive().empty(), "closed without an answer (no 408)");
}

Test(http_session, a_partial_head_closes_at_client_header_timeout, .timeout = 5.0) {
    HttpRig r;
    r.clock.advance(5s);
    r.spin();
    r.send("GET /a HTTP/1.1\r\nHost:");
    r.spin();
    r.clock.advance(header_timeout - 1ms);
    r.spin();
    cr_expect(!r.conn->closed(), "the header clock starts at the request's first bytes");
    r.send(" x\r\n");  // more bytes do not restart it
    r.spin();
    r.clock.advance(1ms);
    r.spin();
    cr_expect(r.conn->closed());
    cr_expect(r.receive().empty(), "closed without an answer");
    cr_expect(r.host.seen.empty());
}

Test(http_session, a_stalled_body_closes_at_client_body_timeout, .timeout = 5.0) {
    HttpRig r;
    r.send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    r.spin();
    r.clock.advance(body_timeout - 1ms);
    r.spin();
    cr_expect(!r.conn->closed());
    r.send("de");  // body bytes restart the body clock
    r.spin();
    r.clock.advance(body_timeout - 1ms);
    r.spin();
    cr_expect(!r.conn->closed(), "restarted by the last body bytes");
    r.clock.advance(1ms);
    r.spin();
    cr_expect(r.conn->closed());
    cr_expect(r.receive().empty());
    cr_expect(r.host.seen.empty());
}

Test(http_session, keep_alive_ends_at_keepalive_timeout, .timeout = 5.0) {
    HttpRig r;
    auto got = r.exchange(get_a);
    cr_assert_eq(got.size(), 1u);
    r.clock.advance(keepalive_timeout - 1ms);
    r.spin();
    cr_expect(!r.conn->closed(), "waiting for the next request");
    auto again = r.exchange(get_b);
    cr_assert_eq(again.size(), 1u, "a request inside keepalive_timeout is served");
    r.clock.advance(keepalive_timeout);
    r.spin();
    cr_expect(r.conn->closed(), "idle for keepalive_timeout after the last response");
}
