// sse: Server-Sent Events (HTML Living Standard §9.2): text/event-stream, "retry:" from
// sse_retry, one event per message with its id, Last-Event-ID / ?since= resume, comment lines
// as keepalive, an `event: herald-missed` event when the resume point is gone, and a last
// `event: herald-expired` / `event: herald-revoked` when the subscriber's access ends. A channel
// list: each event's id is the compound cursor and its data the JSON envelope.
#include "core/ascii.hpp"
#include "http/chunked.hpp"
#include "http/session.hpp"
#include "push/encode.hpp"
#include "push/stream.hpp"

namespace herald::push {
namespace {

class SseStream final : public Stream {
public:
    SseStream(PushHost& h, http::HttpSession& s, Target t)
        : Stream(h, s, config::PushStrategy::sse, std::move(t)) {
        retry_ms_ = static_cast<std::uint64_t>(s.location().limits.sse_retry.count());
    }

private:
    std::string preamble() const override {
        std::string p = "retry: ";
        append_decimal(p, retry_ms_);
        p += "\n\n";
        return p;
    }
    std::string missed_signal(std::string_view missed) const override {
        return "event: herald-missed\ndata: " + std::string(missed) + "\n\n";
    }
    void write_message(const Message& m, const std::shared_ptr<const Message>& keep) override {
        session().connection().out().push_shared(keep, m.sse_event(target().format, chunked()));
        session().connection().flush_soon();
    }
    // "id: CURSOR\n" (this subscriber's) + "data: ENVELOPE\n\n" (the message's json event
    // without its own id line, shared).
    void write_list_message(const Message& m, const std::shared_ptr<const Message>& keep,
                            std::string_view cursor) override {
        const std::string_view event = m.sse_event(config::PushFormat::json, false);
        const std::string_view data = event.substr(event.find('\n') + 1);
        std::string head = "id: ";
        head += cursor;
        head += '\n';
        net::OutputQueue& out = session().connection().out();
        if (chunked()) {
            char size[http::max_chunk_header];
            head.insert(0, size, http::chunk_header(head.size() + data.size(), size));
        }
        out.push(std::move(head));
        out.push_shared(keep, data);
        if (chunked()) out.push_static("\r\n");
        session().connection().flush_soon();
    }
    std::string_view keepalive() const override { return ": keepalive\n\n"; }
    std::string end_signal(AccessEnd why) const override {
        return why == AccessEnd::expired ? "event: herald-expired\ndata: token expired\n\n"
                                         : "event: herald-revoked\ndata: revoked\n\n";
    }

    std::uint64_t retry_ms_;
};

class Sse final : public Strategy {
public:
    Resume native_since(const http::HttpSession& s) const override {
        return parse_resume_id(s.request().header("Last-Event-ID"));
    }
    std::string_view native_cursor(const http::HttpSession& s) const override {
        return ascii::trim_ows(s.request().header("Last-Event-ID"));
    }
    void serve(PushHost& h, http::HttpSession& s, Target& t) const override {
        http::ResponseHead head(200);
        head.header("Content-Type", "text/event-stream; charset=utf-8");
        head.header("Cache-Control", "no-cache").header("X-Accel-Buffering", "no");
        head.header("X-Content-Type-Options", "nosniff");
        s.add_cors(head);
        Stream::start(std::make_unique<SseStream>(h, s, t), std::move(head));
    }
};

} // namespace

const Strategy& sse_strategy() {
    static const Sse p;
    return p;
}

} // namespace herald::push
