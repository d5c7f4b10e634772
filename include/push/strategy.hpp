// Push strategies: how a location serves a channel (polling, long-polling, iframe, SSE,
// WebSocket). Each concrete strategy is private to its .cpp; make_strategy() is the only way to
// get one. Shared request plumbing (channel, resume point, format, CORS) lives here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwt.hpp"
#include "config/config.hpp"
#include "push/broker.hpp"
#include "push/host.hpp"
#include "push/resume.hpp"
#include "net/live_state.hpp"

namespace herald::http {
class HttpSession;
class ResponseHead;
} // namespace herald::http

namespace herald::push {

// What a push or publish request names, resolved from the location and the request.
struct Target {
    std::string channel;                 // one channel; "" when the value was a list
    // A channel list ("news,chat,ticker": the value held a comma): 2.. names, each valid, no
    // repeats, at most the location's max_channels_per_connection, in the order given.
    std::vector<std::string> channels;
    // A list's resume point per channel (same order), from the compound cursor
    // (push/cursor.hpp resolve_list_resume); since stays empty for a list.
    std::vector<std::optional<Cursor>> list_since;
    std::optional<Cursor> since;         // the strategy's native form, else ?since=ID
    bool latest = false;                 // If-None-Match: * (since stays empty)
    std::uint64_t last = 0;              // ?last=N (1..max_last): start with the newest N
    config::PushFormat format = config::PushFormat::raw; // push_format, or ?format=raw|json
    // Who was admitted (the access step fills these): the token's "sub" claim ("" when
    // no token), and when the admission ends (token "exp", seconds since the epoch; 0 = never).
    std::string sub;
    std::int64_t expires_at = 0;
    // A WebSocket `publish on;` route: may this client's messages be published (false when the
    // location's token rule guards publishing and the token's "publish" claim lacks the channel).
    bool may_publish = true;
    // A `multiplex on;` WebSocket under a token rule: the token's claims, checked for each
    // channel at each subscribe (and publish, with `auth_jwt ... publish`). Empty without a rule.
    std::optional<auth::JwtClaims> claims;
    // A response the process before a binary upgrade began (net/live_state.hpp): its head and
    // preamble went out there, so a stream continues without them, from since / list_since
    // (what was delivered). callback: an iframe stream's.
    bool handed = false;
    std::string callback;
};

// The channel, or the list joined with commas (log lines, a binary upgrade's record).
std::string channel_label(const Target& t);

// The resume text of a position: "EPOCH-SEQ", or "0" (the current life's start) for epoch 0.
std::string position_text(std::uint64_t epoch, std::uint64_t seq);

// Splits a comma-separated channel list. Every entry must be a valid channel name (no empty
// entry, no spaces), none twice, at most max of them. On error returns false, out is left
// partly filled, and why names the first problem (for a 400's body and the log).
bool split_channel_list(std::string_view list, std::uint32_t max, std::vector<std::string>& out,
                        std::string& why);

// A 400 whose plain-text body says why (also logged with the client's address).
void respond_bad_request(http::HttpSession& s, std::string_view why);

// Resolves the channel (literal, $arg_NAME, $tail; a value with a comma is a list, see
// split_channel_list: a bad one is a 400 with its reason), ?format and the resume point: native (the
// strategy's own header) when given, else ?since= (pick_resume). On a bad request it responds
// (400) and returns false.
bool resolve_target(http::HttpSession& s, Target& out, Resume native = {});

// Serves the session's current request with its location's strategy. First, ?last=N on a
// first connect (no resume point: a since, Last-Event-ID or If-None-Match wins) becomes the
// cursor just before the newest N buffered messages (all of them when fewer are buffered), so
// the subscriber gets those first, then what follows. Polling answers one message per
// request: the first answer is the oldest of the N, and the client's next since= walks on.
// Nothing buffered (or an unknown channel, or a broker error): nothing changes. That needs
// the channel's info, which the broker may answer later (push/broker_wait.hpp).
void serve_target(PushHost& h, http::HttpSession& s, Target& t);

// Maps a broker error to its response (404 unknown channel, 400 invalid name or a channel list
// across Redis Cluster hash slots, 503 full or
// max_channels reached; 503 with Retry-After: 1 for a fan-out backlog or a broker that cannot
// reach its store).
void respond_push_error(http::HttpSession& s, PushError e);

// The "messages were missed" payload shared by several strategies:
// {"since":"E-5","first":"F-12"}: the client's resume point ("" when it was no id) and the
// oldest buffered id ("" when nothing is buffered).
std::string missed_json(const std::optional<Cursor>& since, const History& h);

// One message as a complete response (polling, long-polling): body per format, ETag "ID",
// X-Herald-Missed: 1 when the resume point was lost, CORS origin if any. For a channel list,
// cursor is the compound cursor: the ETag is "CURSOR" and X-Herald-Channel names m's channel.
void respond_message(http::HttpSession& s, const std::shared_ptr<const Message>& m,
                     config::PushFormat format, bool missed, std::string_view cors_origin,
                     std::string_view cursor = {});

// Stateless: each strategy is one const static instance, shared by every worker thread, so
// serve() may run on several threads at once. Per-request state lives in the session, its
// Responder and the PushHost of the worker serving it, never in the strategy.
class Strategy {
public:
    virtual ~Strategy() = default;
    // Answers the current request of s (respond, hold, stream or upgrade), with the broker and
    // figures of the worker h that serves it.
    virtual void serve(PushHost& h, http::HttpSession& s, Target& t) const = 0;
    // The resume point native to the strategy (If-None-Match, Last-Event-ID), if any.
    virtual Resume native_since(const http::HttpSession&) const { return {}; }
    // The same header's text as a channel list's compound cursor ("" when absent).
    virtual std::string_view native_cursor(const http::HttpSession&) const { return {}; }
};

const Strategy& make_strategy(config::PushStrategy s);

// The new process of a binary upgrade: serves a connection the old one handed over (st.kind
// held, stream or websocket; s already adopted it: HttpSession::adopt) with the strategy of
// its location, from what was delivered (st.position), without asking access again (the old
// process admitted it; the token's sub and expiry still apply). A location whose strategy
// changed, or a record that does not parse, closes the connection: its client resumes.
void adopt_handed(PushHost& h, http::HttpSession& s, const net::LiveState& st);

// Implemented by the strategy files, used only by make_strategy().
const Strategy& polling_strategy();
const Strategy& long_polling_strategy();
const Strategy& iframe_strategy();
const Strategy& sse_strategy();
const Strategy& websocket_strategy();
void adopt_websocket(PushHost& h, http::HttpSession& s, Target& t, const net::LiveState& st);

} // namespace herald::push
