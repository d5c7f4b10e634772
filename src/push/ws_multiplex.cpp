// The multiplexed WebSocket endpoint: JSON commands in, control frames ({"herald":...}) and
// message envelopes out, one Subscription per channel on one socket.
//
// Order: commands are run one at a time, in the order they arrived. A command that waits for
// the broker (subscribe, publish; the Redis broker answers later) holds the ones behind it
// (reading pauses; what one read brought in queues, bounded), so every answer comes in command
// order. A channel's "subscribed" goes out when the broker subscribed it, before its missed
// signal, its history and then its live messages: the broker hands history and live over with
// no gap and no duplicate (Subscriber's contract), and live messages that come while the
// history is still being written wait behind it.
#include "push/ws_multiplex.hpp"

#include <algorithm>
#include <deque>
#include <vector>

#include "core/log.hpp"
#include "http/session.hpp"
#include "push/admission.hpp"
#include "push/cursor.hpp"
#include "push/encode.hpp"
#include "push/presence.hpp"
#include "push/strategy.hpp"
#include "push/ws_command.hpp"
#include "ws/deflate_stats.hpp"
#include "ws/session.hpp"

namespace herald::push {

WsRoute::WsRoute(const http::HttpSession& s)
    : host(s.host()), path(s.path()), remote(s.client_host()),
      client(reinterpret_cast<const char*>(s.client_address().data()), s.client_address().size()) {}

void WsRoute::describe(net::LiveState& st) const {
    st.host = host;
    st.path = path;
    st.remote = remote;
    st.client = client;
    st.http10 = false;
    st.keep_alive = false;
}

namespace {

std::string join_lines(const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v) out += (out.empty() ? "" : "\n") + s;
    return out;
}

// Commands waiting while an earlier one waits for the broker: past either bound (this many,
// or ws_max_message_size bytes) the client is closed with 1008.
inline constexpr std::size_t max_queued_commands = 1024;

// {"herald":"KIND","channel":"C","ref":"R"}: names and refs need no escaping.
std::string control(std::string_view kind, std::string_view channel, std::string_view ref,
                    std::string_view extra = {}) {
    std::string j = "{\"herald\":\"";
    j.append(kind).append("\"");
    if (!channel.empty()) j.append(",\"channel\":\"").append(channel).append("\"");
    j.append(extra);
    if (!ref.empty()) j.append(",\"ref\":\"").append(ref).append("\"");
    return j + "}";
}

struct Refusal {
    int status;
    const char* why;
};

Refusal refusal_of(PushError e) {
    switch (e) {
    case PushError::not_found: return {404, "unknown channel"};
    case PushError::invalid_name: return {400, "invalid channel name"};
    case PushError::too_many_subscribers: return {503, "max_subscribers reached"};
    case PushError::too_many_channels: return {503, "max_channels reached"};
    case PushError::backlog: return {503, "fan-out backlog full"};
    default: return {503, "broker unavailable"};
    }
}

class Multiplex;

// One channel of the socket: its subscription, the history still to write, its admission (for
// revocation by channel) and its presence (the hooks). Owned by the Multiplex.
class ChannelSub final : public Subscriber, public Revocable {
public:
    ChannelSub(Multiplex& m, Target t)
        : Subscriber(config::PushStrategy::websocket), m_(m), t_(std::move(t)) {}

    const std::string& channel() const noexcept { return t_.channel; }
    bool closed() const noexcept { return closed_; }

    // The broker subscribed it: the missed signal and the history go out (as room allows).
    void start(SubscribeResult&& r, const std::optional<Cursor>& since);
    // Writes what the socket has room for of the history; true once none is left.
    bool send_backlog() noexcept;

    void deliver(const std::shared_ptr<const Message>& m) noexcept override;
    void on_channel_closed() noexcept override;
    void on_channel_reset() noexcept override;
    void end_access(AccessEnd why) noexcept override;

    // A binary upgrade: no more deliveries; it goes on in the new process (no leave reported).
    void hand_over() noexcept {
        sub_.reset();
        admission_.reset();
        presence_.release();
    }
    // Its cursor entry: the last message sent (or the position subscribed at).
    void append_position(std::string& cursor) const {
        append_cursor_entry(cursor, t_.channel, epoch_, seq_);
    }

private:
    void sent(const Message& m) noexcept {
        epoch_ = m.epoch;
        seq_ = m.id;
    }

    Multiplex& m_;
    Target t_;                        // channel and sub (the socket's timer has the expiry)
    History history_;                 // still to write, from next_
    std::size_t next_ = 0;
    std::uint64_t live_behind_ = 0;   // bytes of live messages queued behind the history
    std::uint64_t epoch_ = 0, seq_ = 0;  // the position sent up to
    bool started_ = false;
    bool closed_ = false;             // deleted: "closed" is owed (after the history) or sent
    Admission admission_;
    Presence presence_;
    Subscription sub_;
};

// The endpoint. Owns its channels and the commands waiting; points to the worker (PushHost)
// and, between on_open and on_close, to its session. Loop thread only.
class Multiplex final : public ws::Endpoint, public Revocable {
public:
    Multiplex(PushHost& h, const http::HttpSession& s, const Target& t)
        : h_(h), latency_(h.latency(config::PushStrategy::websocket)), t_(t),
          addr_(s.client_host()), publish_(s.location().publish),
          publish_guarded_(!s.location().limits.jwt.key.empty() && s.location().limits.jwt.publish),
          max_channels_(s.location().limits.max_channels_per_connection),
          max_queue_(s.location().limits.ws_max_queue),
          max_queued_bytes_(s.location().limits.ws_max_message_size), route_(s) {
        const config::Limits& l = s.location().limits;
        if (l.on_subscribe || l.on_unsubscribe) hooks_ = l;
        if (t_.handed) {  // taken over in a binary upgrade: its channels, once open
            if (!t_.channels.empty()) {
                resume_ = t_.channels;
                resume_since_ = t_.list_since;
            } else if (!t_.channel.empty()) {
                resume_.push_back(t_.channel);
                resume_since_.push_back(t_.since);
            }
            resume_since_.resize(resume_.size());
        }
        t_.channel.clear();
        t_.channels.clear();
        t_.list_since.clear();
        t_.since.reset();
    }

    bool handed() const noexcept { return handed_; }

    // A binary upgrade, between commands (none waiting for the broker or queued) and once every
    // deleted channel's history and "closed" went out: stops every channel and describes the
    // socket (its channels with their positions as one compound cursor, the token's claims).
    net::Handing hand_over(net::LiveState& st) noexcept override {
        if (!handed_) {
            if (!session_ || session_->closing()) return net::Handing::never;
            if (waiting_ != 0 || !queued_.empty() || pending_ || !resume_.empty())
                return net::Handing::later;
            for (const auto& c : subs_)
                if (c->closed() && !c->send_backlog()) return net::Handing::later;
            std::erase_if(subs_, [](const auto& c) { return c->closed(); });
            for (const auto& c : subs_) c->hand_over();
            expiry_.cancel();
            handed_ = true;
        }
        st.strategy = static_cast<std::uint8_t>(config::PushStrategy::websocket);
        st.multiplex = true;
        st.channels.clear();
        st.position.clear();
        for (const auto& c : subs_) {
            st.channels += (st.channels.empty() ? "" : ",") + c->channel();
            c->append_position(st.position);
        }
        if (subs_.size() == 1) {  // one channel travels as a plain id, not a one-entry cursor
            const auto dot = st.position.find('.');
            st.position.erase(0, dot + 1);
        }
        st.sub = t_.sub;
        st.expires_at = t_.expires_at;
        st.has_claims = t_.claims.has_value();
        if (t_.claims) {
            st.claim_channels = join_lines(t_.claims->channels);
            st.claim_publish = join_lines(t_.claims->publish);
        }
        route_.describe(st);
        return net::Handing::ready;
    }

    PushHost& host() noexcept { return h_; }
    ws::WsSession* session() noexcept { return session_; }
    std::uint64_t max_queue() const noexcept { return max_queue_; }
    const std::string& addr() const noexcept { return addr_; }
    const std::optional<config::Limits>& hooks() const noexcept { return hooks_; }

    void on_open(ws::WsSession& s) noexcept override {
        session_ = &s;
        expiry_ = expiry_timer(s.connection().loop(), t_.expires_at, *this);
        if (!resume_.empty()) resume_next();
    }

    void on_message(ws::WsSession& s, ws::Opcode op, std::string_view payload) noexcept override {
        if (op != ws::Opcode::text) {
            HERALD_INFO("multiplexed websocket of %s: a binary frame, closing with 1003",
                        addr_.c_str());
            s.close(ws::CloseCode::unsupported_data, "commands are JSON text frames");
            return;
        }
        if (waiting_ == 0) {
            run(payload);
            return;
        }
        if (queued_.size() >= max_queued_commands ||
            queued_bytes_ + payload.size() > max_queued_bytes_) {
            HERALD_WARN("multiplexed websocket of %s: more than %zu commands or %llu bytes wait "
                        "for the broker, closing with 1008",
                        addr_.c_str(), max_queued_commands,
                        static_cast<unsigned long long>(max_queued_bytes_));
            drop_commands();
            s.close(ws::CloseCode::policy_violation, "command queue full");
            return;
        }
        queued_bytes_ += payload.size();
        queued_.emplace_back(payload);
    }

    void on_drained(ws::WsSession&) noexcept override {
        for (const auto& c : subs_) c->send_backlog();
    }

    void on_close() noexcept override {
        drop_commands();
        pending_.reset();
        subs_.clear();
        expiry_.cancel();
        session_ = nullptr;
    }

    // 4401 "token expired" (the socket's expiry) / 4403 "revoked" (a channel's admission).
    void end_access(AccessEnd why) noexcept override {
        if (!session_ || session_->closing()) return;
        const bool expired = why == AccessEnd::expired;
        HERALD_INFO("multiplexed websocket of %s (sub \"%s\"): %s", addr_.c_str(),
                    log::quoted(t_.sub).c_str(), expired ? "token expired" : "revoked");
        close(expired ? ws::CloseCode::token_expired : ws::CloseCode::revoked,
              expired ? "token expired" : "revoked");
    }

    // Ends the socket (the subscriptions go at once; the close handshake follows).
    void close(ws::CloseCode code, std::string_view reason) noexcept {
        drop_commands();
        expiry_.cancel();
        if (session_) session_->close(code, reason);
    }

    bool send_text(const std::string& json) noexcept {
        return session_ && session_->send(ws::Opcode::text, json);
    }

    // Queues m's envelope frame (shared, not copied); false if the socket refused it.
    bool send(const std::shared_ptr<const Message>& m) noexcept {
        const std::size_t plain = m->json_envelope().size();
        const std::string_view frame = frame_of(*m, plain);
        if (!session_->send_frame(m, frame)) return false;
        if (session_->compresses(plain))
            ws::count_sent_deflated(plain, ws::frame_payload_size(frame));
        return true;
    }
    std::string_view frame_of(const Message& m, std::size_t plain) const {
        return session_->compresses(plain)
                   ? m.ws_frame_deflated(config::PushFormat::json, session_->deflate_level())
                   : m.ws_frame(config::PushFormat::json);
    }
    void stamp(const Message& m) noexcept {
        session_->connection().out().stamp_delivery(m.published_steady, latency_);
    }

private:
    void run(std::string_view text) noexcept;
    void resume_next() noexcept;
    void resumed(SubscribeResult&& r) noexcept;
    void subscribe(WsCommand&& c) noexcept;
    void subscribe_from(std::optional<Cursor> since) noexcept;
    void subscribed(SubscribeResult&& r) noexcept;
    void unsubscribe(const WsCommand& c) noexcept;
    void publish(WsCommand&& c) noexcept;
    void published(const PublishResult& r) noexcept;
    void refuse(int status, std::string_view why, std::string_view ref,
                std::string_view channel) noexcept;
    ChannelSub* find(std::string_view channel) noexcept;

    // One broker call: start() makes it and returns its BrokerCall. If it is still unanswered
    // when start returns, reading pauses and the call is kept (cancelled with this endpoint).
    template <class Start> void call(Start&& start) noexcept {
        const std::uint64_t id = ++calls_;
        waiting_ = id;
        const bool outer = in_call_;
        in_call_ = true;
        BrokerCall c = start();
        in_call_ = outer;
        if (waiting_ != id) return;  // answered already (and maybe followed by another call)
        call_ = std::move(c);
        pause(true);
    }
    // The end of an answer: the commands queued behind it run (unless it came inside call(),
    // whose caller goes on by itself).
    void answered() noexcept {
        if (waiting_ != 0 || in_call_) return;
        while (waiting_ == 0 && !queued_.empty()) {
            const std::string text = std::move(queued_.front());
            queued_.pop_front();
            queued_bytes_ -= text.size();
            run(text);
        }
        if (waiting_ == 0) pause(false);
    }
    void drop_commands() noexcept {
        call_.reset();
        waiting_ = 0;
        queued_.clear();
        queued_bytes_ = 0;
        pause(false);
    }
    void pause(bool on) noexcept {
        if (paused_ == on || !session_) return;
        paused_ = on;
        session_->connection().pause_reading(on);
    }

    PushHost& h_;
    Histogram& latency_;  // this worker's, looked up once
    Target t_;            // the socket's: no channel; the token's sub, expiry and claims
    std::string addr_;
    bool publish_;
    bool publish_guarded_;  // `auth_jwt KEY publish`: the publish claim must cover the channel
    std::uint32_t max_channels_;
    std::uint64_t max_queue_;
    std::uint64_t max_queued_bytes_;
    std::optional<config::Limits> hooks_;  // the location's limits when it has a hook
    ws::WsSession* session_ = nullptr;
    std::vector<std::unique_ptr<ChannelSub>> subs_;  // in subscribe order; closed ones too
    WsCommand cmd_;                       // the command waiting for the broker
    std::unique_ptr<ChannelSub> pending_; // its channel, while the subscribe is unanswered
    std::deque<std::string> queued_;      // commands behind it, in order
    std::uint64_t queued_bytes_ = 0;
    std::uint64_t calls_ = 0;
    std::uint64_t waiting_ = 0;  // the unanswered call's number, 0 = none
    bool in_call_ = false;       // inside call()'s start: an answer now is not a later one
    bool paused_ = false;
    bool handed_ = false;        // frozen for a binary upgrade
    WsRoute route_;
    // Taken over in a binary upgrade: the channels to subscribe again, from these positions.
    std::vector<std::string> resume_;
    std::vector<std::optional<Cursor>> resume_since_;
    std::size_t next_resume_ = 0;
    // The token's expiry ends the socket, whatever it is subscribed to. Revocation reaches it
    // through its channels' admissions (a socket with none is no subscriber: revocation does
    // not blacklist the token, which could connect again anyway).
    Timer expiry_;
    BrokerCall call_;      // last: cancelled before what its done points to goes
};

void ChannelSub::start(SubscribeResult&& r, const std::optional<Cursor>& since) {
    // Anything delivered before the answer (the broker's contract says nothing is) stays
    // behind the history.
    std::vector<std::shared_ptr<const Message>> early = std::move(history_.messages);
    history_ = std::move(r.history);
    epoch_ = history_.epoch;
    seq_ = history_.last_id;
    if (!history_.messages.empty()) {  // sent from the first of them on
        epoch_ = history_.messages.front()->epoch;
        seq_ = history_.messages.front()->id - 1;
    }
    history_.messages.insert(history_.messages.end(), early.begin(), early.end());
    sub_ = std::move(r.subscription);
    started_ = true;
    ws::WsSession* s = m_.session();
    admission_ = Admission(m_.host().admissions(), s->connection().loop(), t_, *this);
    if (m_.hooks())
        presence_ = Presence(m_.host(), *m_.hooks(), m_.addr(), t_, strategy());
    if (history_.missed)
        m_.send_text("{\"herald\":\"missed\",\"channel\":\"" + t_.channel + "\"," +
                     missed_json(since, history_).substr(1));
    send_backlog();
}

// The history is a reply the server chose to send, not a slow reader: it goes out as the
// socket drains, so a history larger than ws_max_queue arrives whole. Live messages published
// meanwhile wait behind it; only they count as the reader's lag.
bool ChannelSub::send_backlog() noexcept {
    const std::vector<std::shared_ptr<const Message>>& q = history_.messages;
    ws::WsSession* s = m_.session();
    std::size_t n = 0;
    if (m_.handed()) return false;  // the new process sends the rest
    while (next_ < q.size() && s && s->has_room()) {
        const std::shared_ptr<const Message>& m = q[next_++];
        m_.send(m);
        sent(*m);
        ++n;
    }
    if (n) m_.host().broker().note_delivered(n, t_.channel);
    if (next_ < q.size()) return false;
    const bool owed = closed_ && !q.empty();
    history_ = History{};
    next_ = 0;
    live_behind_ = 0;
    if (owed) m_.send_text(control("closed", t_.channel, {}));
    return true;
}

void ChannelSub::deliver(const std::shared_ptr<const Message>& m) noexcept {
    ws::WsSession* s = m_.session();
    if (!s || s->closing() || closed_ || m_.handed()) return;
    if (!started_ || !history_.messages.empty()) {  // behind the history, in order
        live_behind_ += m_.frame_of(*m, m->json_envelope().size()).size();
        if (live_behind_ > m_.max_queue()) {
            m_.host().broker().note_dropped(1, t_.channel);
            sub_.reset();
            m_.close(ws::CloseCode::policy_violation, "slow consumer");
            return;
        }
        history_.messages.push_back(m);
        return;
    }
    if (!m_.send(m)) {  // over ws_max_queue: the session closes with 1008
        m_.host().broker().note_dropped(1, t_.channel);
        sub_.reset();
        return;
    }
    sent(*m);
    m_.stamp(*m);
}

// The socket stays: the client is told, after every message published before the delete.
void ChannelSub::on_channel_closed() noexcept {
    if (closed_) return;
    closed_ = true;
    admission_.reset();
    presence_.reset();
    if (history_.messages.empty()) m_.send_text(control("closed", t_.channel, {}));
}

// As the single-channel endpoint does (1001): the client reconnects and resumes each channel.
void ChannelSub::on_channel_reset() noexcept {
    m_.close(ws::CloseCode::going_away, "channel reset");
}

void ChannelSub::end_access(AccessEnd why) noexcept { m_.end_access(why); }

ChannelSub* Multiplex::find(std::string_view channel) noexcept {
    for (const auto& c : subs_)
        if (!c->closed() && c->channel() == channel) return c.get();
    return nullptr;
}

void Multiplex::refuse(int status, std::string_view why, std::string_view ref,
                       std::string_view channel) noexcept {
    HERALD_INFO("multiplexed websocket of %s: %d %s (channel \"%s\")", addr_.c_str(), status,
                std::string(why).c_str(), std::string(channel).c_str());
    std::string extra = ",\"status\":";
    append_decimal(extra, static_cast<std::uint64_t>(status));
    extra += ",\"error\":\"";
    append_json_escaped(extra, why);
    extra += '"';
    std::string j = "{\"herald\":\"error\"" + extra;
    if (!ref.empty()) j.append(",\"ref\":\"").append(ref).append("\"");
    if (!channel.empty()) j.append(",\"channel\":\"").append(channel).append("\"");
    send_text(j + "}");
}

void Multiplex::run(std::string_view text) noexcept {
    if (!session_ || session_->closing()) return;
    // Channels deleted earlier (told "closed", history written) are dropped here, outside any
    // broker callback of theirs.
    std::erase_if(subs_, [](const auto& c) { return c->closed() && c->send_backlog(); });
    WsCommand c;
    const std::string why = parse_ws_command(text, c);
    if (!why.empty()) {
        refuse(400, why, c.ref, c.channel);
        return;
    }
    switch (c.op) {
    case WsOp::subscribe: subscribe(std::move(c)); return;
    case WsOp::unsubscribe: unsubscribe(c); return;
    case WsOp::publish: publish(std::move(c)); return;
    }
}

// Subscribes the channels of a socket taken over in a binary upgrade, one after the other (an
// answer that comes later goes on from its callback); then the commands that came meanwhile.
void Multiplex::resume_next() noexcept {
    while (waiting_ == 0 && next_resume_ < resume_.size()) {
        const std::size_t i = next_resume_++;
        cmd_ = WsCommand{};
        cmd_.channel = resume_[i];
        cmd_.since = resume_since_[i];
        Target t;
        t.channel = cmd_.channel;
        t.sub = t_.sub;
        t.handed = true;  // one presence across both processes: no join reported
        pending_ = std::make_unique<ChannelSub>(*this, std::move(t));
        call([this] {
            return h_.broker().subscribe_async(h_.broker_worker(), cmd_.channel, cmd_.since,
                                               *pending_, [this](SubscribeResult&& r) {
                                                   waiting_ = 0;
                                                   resumed(std::move(r));
                                                   if (!in_call_) resume_next();
                                               });
        });
    }
    if (waiting_ != 0 || next_resume_ < resume_.size()) return;
    resume_.clear();
    resume_since_.clear();
    answered();
}

// A channel that cannot be followed again (deleted meanwhile, not allowed by the new config)
// is told "closed", as a deleted one is.
void Multiplex::resumed(SubscribeResult&& r) noexcept {
    std::unique_ptr<ChannelSub> c = std::move(pending_);
    if (!session_) return;
    if (r.error != PushError::none) {
        HERALD_INFO("multiplexed websocket of %s: channel \"%s\" not taken over: %s",
                    addr_.c_str(), cmd_.channel.c_str(), to_string(r.error));
        send_text(control("closed", cmd_.channel, {}));
        return;
    }
    ChannelSub& sub = *c;
    subs_.push_back(std::move(c));
    sub.start(std::move(r), cmd_.since);
}

void Multiplex::subscribe(WsCommand&& c) noexcept {
    if (find(c.channel)) return refuse(409, "already subscribed", c.ref, c.channel);
    const std::size_t live =
        static_cast<std::size_t>(std::count_if(subs_.begin(), subs_.end(),
                                               [](const auto& s) { return !s->closed(); }));
    if (live >= max_channels_)
        return refuse(413, "more than " + std::to_string(max_channels_) +
                               " channels on this connection (max_channels_per_connection)",
                      c.ref, c.channel);
    if (t_.claims && !t_.claims->may_subscribe(c.channel))
        return refuse(403, "channel not in token", c.ref, c.channel);
    cmd_ = std::move(c);
    Target t;
    t.channel = cmd_.channel;
    t.sub = t_.sub;
    pending_ = std::make_unique<ChannelSub>(*this, std::move(t));
    if (cmd_.last == 0) {
        subscribe_from(cmd_.since);
        return;
    }
    // last=N: the cursor just before the newest N buffered (serve_target's rule).
    call([this] {
        return h_.broker().channel_info_async(
            h_.broker_worker(), cmd_.channel, [this](const InfoResult& r) {
                waiting_ = 0;
                std::optional<Cursor> since;
                if (r.error == PushError::none && r.info.buffered != 0)
                    since = Cursor{r.info.epoch,
                                   r.info.last_id - std::min<std::uint64_t>(cmd_.last,
                                                                            r.info.buffered),
                                   false};
                subscribe_from(since);
                answered();
            });
    });
}

void Multiplex::subscribe_from(std::optional<Cursor> since) noexcept {
    cmd_.since = since;
    call([this] {
        return h_.broker().subscribe_async(h_.broker_worker(), cmd_.channel, cmd_.since,
                                           *pending_, [this](SubscribeResult&& r) {
                                               waiting_ = 0;
                                               subscribed(std::move(r));
                                               answered();
                                           });
    });
}

void Multiplex::subscribed(SubscribeResult&& r) noexcept {
    std::unique_ptr<ChannelSub> c = std::move(pending_);
    if (r.error != PushError::none) {
        const Refusal e = refusal_of(r.error);
        refuse(e.status, e.why, cmd_.ref, cmd_.channel);
        return;
    }
    if (!session_) return;
    send_text(control("subscribed", cmd_.channel, cmd_.ref));
    ChannelSub& sub = *c;
    subs_.push_back(std::move(c));
    sub.start(std::move(r), cmd_.since);
}

void Multiplex::unsubscribe(const WsCommand& c) noexcept {
    const auto it = std::find_if(subs_.begin(), subs_.end(), [&c](const auto& s) {
        return !s->closed() && s->channel() == c.channel;
    });
    if (it == subs_.end()) return refuse(409, "not subscribed", c.ref, c.channel);
    subs_.erase(it);
    send_text(control("unsubscribed", c.channel, c.ref));
}

void Multiplex::publish(WsCommand&& c) noexcept {
    if (!publish_) return refuse(403, "publish is off on this route", c.ref, c.channel);
    if (publish_guarded_ && (!t_.claims || !t_.claims->may_publish(c.channel)))
        return refuse(403, "channel not in the token's publish claim", c.ref, c.channel);
    cmd_ = std::move(c);
    call([this] {
        return h_.broker().publish_async(h_.broker_worker(), cmd_.channel, cmd_.data,
                                         "text/plain; charset=utf-8", cmd_.event,
                                         [this](const PublishResult& r) {
                                             waiting_ = 0;
                                             published(r);
                                             answered();
                                         });
    });
}

void Multiplex::published(const PublishResult& r) noexcept {
    if (r.error != PushError::none) {
        const Refusal e = refusal_of(r.error);
        refuse(e.status, e.why, cmd_.ref, cmd_.channel);
        return;
    }
    send_text(control("published", cmd_.channel, cmd_.ref,
                      ",\"id\":\"" + message_id(r.epoch, r.id) + "\""));
}

} // namespace

std::unique_ptr<ws::Endpoint> make_multiplex_endpoint(PushHost& h, const http::HttpSession& s,
                                                      const Target& t) {
    return std::make_unique<Multiplex>(h, s, t);
}

} // namespace herald::push
