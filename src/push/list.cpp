// Channel-list requests: per-channel entries, positions, the choice of what to answer, and the
// subscriber of one channel of the list.
#include "push/list.hpp"

#include "http/session.hpp"
#include "push/cursor.hpp"

namespace herald::push {

std::vector<ListEntry> make_list_entries(const Target& t) {
    std::vector<ListEntry> out(t.channels.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
        out[i].channel = t.channels[i];
        if (i < t.list_since.size()) out[i].since = t.list_since[i];
    }
    return out;
}

void settle(ListEntry& e) noexcept {
    const History& h = e.history;
    if (h.missed && e.since) {
        e.epoch = e.since->foreign ? 0 : e.since->epoch;
        e.seq = e.since->foreign ? 0 : e.since->seq;
    } else {
        e.epoch = h.epoch;
        e.seq = h.messages.empty() ? h.last_id : h.messages.front()->id - 1;
    }
}

std::string list_cursor(const std::vector<ListEntry>& entries) {
    std::string c;
    for (const ListEntry& e : entries) append_cursor_entry(c, e.channel, e.epoch, e.seq);
    return c;
}

std::size_t pick_pending(const std::vector<ListEntry>& entries) noexcept {
    std::size_t best = std::string::npos;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& msgs = entries[i].history.messages;
        if (msgs.empty()) continue;
        if (best == std::string::npos ||
            msgs.front()->published_at < entries[best].history.messages.front()->published_at)
            best = i;
    }
    if (best != std::string::npos) return best;
    for (std::size_t i = 0; i < entries.size(); ++i)
        if (entries[i].history.missed) return i;
    return std::string::npos;
}

std::string list_missed_json(const ListEntry& e) {
    std::string j = missed_json(e.since, e.history);
    j.insert(1, "\"channel\":\"" + e.channel + "\",");  // a channel name needs no escaping
    return j;
}

void respond_list_pick(PushHost& h, http::HttpSession& s, std::vector<ListEntry>& entries,
                       std::size_t i, config::PushFormat format, std::string_view cors_origin) {
    ListEntry& e = entries[i];
    if (!e.history.messages.empty()) {
        const std::shared_ptr<const Message> m = e.history.messages.front();
        e.epoch = m->epoch;
        e.seq = m->id;
        h.broker().note_delivered(1, e.channel);
        respond_message(s, m, format, e.history.missed, cors_origin, list_cursor(entries));
        return;
    }
    // The resume point is gone and nothing is buffered: say so now, not by silence.
    e.epoch = e.history.epoch;
    e.seq = e.history.last_id;
    http::ResponseHead head(204);
    head.header("Cache-Control", "no-cache").header("X-Herald-Missed", "1");
    head.header("X-Herald-Channel", e.channel);
    head.header("ETag", "\"" + list_cursor(entries) + "\"");
    http::add_cors_headers(head, cors_origin);
    s.respond(std::move(head), {});
}

void respond_list_status(http::HttpSession& s, int status, const std::vector<ListEntry>& entries,
                         std::string_view cors_origin) {
    http::ResponseHead head(status);
    head.header("Cache-Control", "no-cache");
    head.header("ETag", "\"" + list_cursor(entries) + "\"");
    http::add_cors_headers(head, cors_origin);
    s.respond(std::move(head), {});
}

Leg::Leg(LegOwner& owner, std::size_t index, config::PushStrategy kind, const Target& list)
    : Subscriber(kind), owner_(owner), index_(index), t_(list) {
    t_.channel = list.channels[index];
    t_.since = index < list.list_since.size() ? list.list_since[index] : std::nullopt;
    t_.channels.clear();
    t_.list_since.clear();
}

void Leg::admit(PushHost& h, http::HttpSession& s, Revocable& r) {
    presence_ = Presence(h, s, t_, strategy());
    admission_ = Admission(h.admissions(), s.connection().loop(), t_, r);
}

Legs make_legs(LegOwner& owner, config::PushStrategy kind, const Target& t) {
    Legs legs;
    legs.reserve(t.channels.size());
    for (std::size_t i = 0; i < t.channels.size(); ++i)
        legs.push_back(std::make_unique<Leg>(owner, i, kind, t));
    return legs;
}

} // namespace herald::push
