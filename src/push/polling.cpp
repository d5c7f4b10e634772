// polling: answer at once with the newest message, or the next one after If-None-Match /
// ?since=; 304 when nothing is newer, 204 when the channel is empty. A channel list: the same
// over every channel, one message per answer (push/list.hpp), ETag the compound cursor.
#include "core/ascii.hpp"
#include "http/session.hpp"
#include "push/broker_wait.hpp"
#include "push/cursor.hpp"
#include "push/list.hpp"
#include "push/strategy.hpp"

namespace herald::push {

namespace {

// Types a browser renders as an active document (scripts run): HTML, XHTML, SVG, any XML.
bool is_active_type(std::string_view type) noexcept {
    const std::string_view t = ascii::trim_ows(type.substr(0, type.find(';')));
    auto ends_with = [&t](std::string_view suffix) {
        return t.size() >= suffix.size() &&
               http::iequals(t.substr(t.size() - suffix.size()), suffix);
    };
    return ends_with("/html") || ends_with("/xml") || ends_with("+xml");
}

} // namespace

// One message as a complete HTTP response (polling and long-polling): ETag carries its id.
// Published bytes keep their type but are never sniffed, and an active type from a publisher
// the route does not trust (push_trusted off) is served inside `Content-Security-Policy:
// sandbox`, where no script runs and the document has an opaque origin.
void respond_message(http::HttpSession& s, const std::shared_ptr<const Message>& m,
                     config::PushFormat format, bool missed, std::string_view cors_origin,
                     std::string_view cursor) {
    http::ResponseHead head(200);
    std::string etag = "\"" + (cursor.empty() ? m->id_text() : std::string(cursor)) + "\"";
    if (!cursor.empty()) head.header("X-Herald-Channel", m->channel);
    std::string_view type = format == config::PushFormat::json ? std::string_view("application/json")
                            : m->content_type.empty() ? std::string_view("text/plain")
                                                      : std::string_view(m->content_type);
    head.header("Content-Type", type).header("ETag", etag).header("Cache-Control", "no-cache");
    head.header("X-Content-Type-Options", "nosniff");
    if (is_active_type(type) && !s.location().limits.push_trusted)
        head.header("Content-Security-Policy", "sandbox");
    if (missed) head.header("X-Herald-Missed", "1");
    // Checked at publish: a header-safe token. json carries it in the envelope instead.
    if (!m->event.empty() && format != config::PushFormat::json)
        head.header("X-Herald-Event", m->event);
    http::add_cors_headers(head, cors_origin);
    s.respond_shared(std::move(head), m, m->body(format));
}

namespace {

// A poll over a channel list: each channel fetched one after the other, then the same choice
// as a list long-poll, without holding.
struct ListPoll {
    Target t;
    std::vector<ListEntry> entries;
    std::size_t next = 0;  // the channel being fetched
};

void fetch_next(PushHost& h, http::HttpSession& s, ListPoll& ctx);

void answer_list(PushHost& h, http::HttpSession& s, ListPoll& ctx) {
    bool all_empty = true;
    for (ListEntry& e : ctx.entries) {
        settle(e);
        if (e.history.last_id != 0) all_empty = false;
    }
    if (const std::size_t i = pick_pending(ctx.entries); i != std::string::npos) {
        respond_list_pick(h, s, ctx.entries, i, ctx.t.format, s.cors_origin());
        return;
    }
    // Nothing to send: 204 when every channel is empty, 304 when the client is up to date.
    respond_list_status(s, all_empty ? 204 : 304, ctx.entries, s.cors_origin());
}

void list_fetched(PushHost& h, http::HttpSession& s, ListPoll& ctx, FetchResult&& r) {
    if (r.error != PushError::none) {
        respond_push_error(s, r.error);
        return;
    }
    ctx.entries[ctx.next].history = std::move(r.history);
    if (++ctx.next < ctx.entries.size()) fetch_next(h, s, ctx);
    else answer_list(h, s, ctx);
}

void fetch_next(PushHost& h, http::HttpSession& s, ListPoll& ctx) {
    const ListEntry& e = ctx.entries[ctx.next];
    // Without a resume point: the newest message, as for one channel. If-None-Match: * holds
    // the newest message already: only the counts are needed.
    const std::size_t limit = ctx.t.latest ? 0 : 1;
    await_broker<FetchResult&&>(
        h, s, ctx,
        [&h, &e, limit](FetchDone done) {
            return h.broker().fetch_async(h.broker_worker(), e.channel, e.since, limit,
                                          std::move(done));
        },
        &list_fetched);
}

class Polling final : public Strategy {
public:
    Resume native_since(const http::HttpSession& s) const override {
        return parse_if_none_match(s.request().header("If-None-Match"));
    }
    std::string_view native_cursor(const http::HttpSession& s) const override {
        return unquote_list_tag(s.request().header("If-None-Match"));
    }

    void serve(PushHost& h, http::HttpSession& s, Target& t) const override {
        if (!t.channels.empty()) {
            ListPoll ctx{t, make_list_entries(t)};
            fetch_next(h, s, ctx);
            return;
        }
        // If-None-Match: * holds the newest message already: only the counts are needed.
        await_broker<FetchResult&&>(
            h, s, t,
            [&h, &t](FetchDone done) {
                return h.broker().fetch_async(h.broker_worker(), t.channel, t.since,
                                              t.latest ? 0 : 1, std::move(done));
            },
            &Polling::fetched);
    }

private:
    static void fetched(PushHost& h, http::HttpSession& s, Target& t, FetchResult&& r) {
        if (r.error != PushError::none) {
            respond_push_error(s, r.error);
            return;
        }
        if (!r.history.messages.empty()) {
            h.broker().note_delivered(1, t.channel);
            respond_message(s, r.history.messages.front(), t.format, r.history.missed, s.cors_origin());
            return;
        }
        // Nothing to send: 204 for an empty channel, 304 when the client is up to date.
        http::ResponseHead head((t.since || t.latest) && r.history.last_id ? 304 : 204);
        head.header("Cache-Control", "no-cache");
        if (r.history.last_id)
            head.header("ETag", "\"" + message_id(r.history.epoch, r.history.last_id) + "\"");
        if (r.history.missed) head.header("X-Herald-Missed", "1");
        s.add_cors(head);
        s.respond(std::move(head), {});
    }
};

} // namespace

const Strategy& polling_strategy() {
    static const Polling p;
    return p;
}

} // namespace herald::push
