// iframe ("forever frame"): one never-ending chunked text/html response; each message is a
// <script>parent.CALLBACK("DATA","ID")</script> call, DATA escaped so no message can leave the
// script element. CALLBACK comes from ?callback= (a JS identifier path; default herald_push).
// A channel list: DATA is the JSON envelope and ID the compound cursor.
#include "http/chunked.hpp"
#include "http/session.hpp"
#include "http/target.hpp"
#include "push/encode.hpp"
#include "push/stream.hpp"

namespace herald::push {
namespace {

class IframeStream final : public Stream {
public:
    IframeStream(PushHost& h, http::HttpSession& s, Target t, std::string callback)
        : Stream(h, s, config::PushStrategy::iframe, std::move(t)), callback_(std::move(callback)) {
        if (callback_ != default_callback)
            prefix_ = std::make_shared<const std::string>(iframe_call_prefix(callback_, chunked()));
    }

private:
    std::string preamble() const override {
        // Browsers start running scripts of a streamed document only after a first block of
        // bytes: pad past 1 KiB.
        std::string p = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                        "<title>herald iframe stream</title></head><body>\n<!-- ";
        p.append(1100, ' ');
        p += " -->\n";
        return p;
    }
    std::string missed_signal(std::string_view missed) const override {
        std::string j(missed);
        j.insert(1, "\"missed\":true,");
        return "<script>parent." + callback_ + "(null,\"\"," + j + ")</script>\n";
    }
    void write_message(const Message& m, const std::shared_ptr<const Message>& keep) override {
        IframeCall call = m.iframe_call(target().format);
        net::OutputQueue& out = session().connection().out();
        if (!prefix_) {
            if (chunked()) out.push_shared(keep, call.chunked_default);
            else {
                out.push_static("<script>parent.herald_push");
                out.push_shared(keep, call.tail);
            }
        } else {
            out.push_shared(prefix_, *prefix_);  // shared: queued bytes may outlive the stream
            out.push_shared(keep, chunked() ? call.chunked_tail : call.tail);
        }
        session().connection().flush_soon();
    }
    // <script>parent.CALLBACK (this subscriber's) + ("ENVELOPE"," (the message's json call
    // without its id, shared) + CURSOR")</script> (this subscriber's).
    void write_list_message(const Message& m, const std::shared_ptr<const Message>& keep,
                            std::string_view cursor) override {
        constexpr std::string_view close = "\")</script>";
        const std::string_view tail = m.iframe_call(config::PushFormat::json).tail;
        const std::string_view call = tail.substr(0, tail.size() - m.id_text().size() - close.size());
        std::string head = "<script>parent." + callback_;
        std::string end(cursor);
        end += close;
        if (chunked()) {
            char size[http::max_chunk_header];
            head.insert(0, size,
                        http::chunk_header(head.size() + call.size() + end.size(), size));
            end += "\r\n";
        }
        net::OutputQueue& out = session().connection().out();
        out.push(std::move(head));
        out.push_shared(keep, call);
        out.push(std::move(end));
        session().connection().flush_soon();
    }
    std::string_view keepalive() const override { return "<!-- keepalive -->\n"; }
    void describe(net::LiveState& st) const override { st.callback = callback_; }
    // parent.CALLBACK(null,"",{"ended":"expired"|"revoked"}) before the document ends.
    std::string end_signal(AccessEnd why) const override {
        return "<script>parent." + callback_ + "(null,\"\",{\"ended\":\"" +
               (why == AccessEnd::expired ? "expired" : "revoked") + "\"})</script>\n";
    }

    std::string callback_;
    // "<script>parent.CALLBACK" (a chunk when chunked) for a custom callback, built once.
    std::shared_ptr<const std::string> prefix_;
};

class Iframe final : public Strategy {
public:
    void serve(PushHost& h, http::HttpSession& s, Target& t) const override {
        std::string cb = t.handed ? t.callback
                                  : http::query_arg(s.request().query, "callback")
                                        .value_or(std::string(default_callback));
        if (!is_valid_callback(cb)) {
            s.respond_error(400);
            return;
        }
        http::ResponseHead head(200);
        head.header("Content-Type", "text/html; charset=utf-8");
        head.header("Cache-Control", "no-cache").header("X-Accel-Buffering", "no");
        head.header("X-Content-Type-Options", "nosniff");
        Stream::start(std::make_unique<IframeStream>(h, s, t, std::move(cb)), std::move(head));
    }
};

} // namespace

const Strategy& iframe_strategy() {
    static const Iframe p;
    return p;
}

} // namespace herald::push
