// wsload: what a Worker does with open connections in each mode: echo (D messages in flight,
// round-trip times from a per-connection ring of send times), subscribe (sequence numbers and
// publish timestamps parsed out of each delivered message) and the paced HTTP publisher.
// Part of the single-TU wsload build.
#pragma once

#include <cinttypes>

#include "worker_io.hpp"

namespace wsload {

inline void Worker::start_echo(std::int64_t now) {
    echo_started_ = true;
    measure_from_ns_ = shared_.measure_from_ns.load(std::memory_order_relaxed);
    measure_to_ns_ = shared_.measure_to_ns.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < subscriber_count(); ++i)
        if (conns_[i].state == State::open) send_echo(conns_[i], opt_.inflight, now);
}

// Queues k more messages (all alike, taken from the template) stamped `now`.
inline void Worker::send_echo(Conn& c, std::uint32_t k, std::int64_t now) {
    const std::size_t base = static_cast<std::size_t>(&c - conns_.data()) * opt_.inflight;
    for (std::uint32_t j = 0; j < k && c.ring_count < opt_.inflight; ++j) {
        ring_[base + (c.ring_head + c.ring_count) % opt_.inflight] = now;
        ++c.ring_count;
    }
    c.tpl_pending += std::uint64_t{k} * frame_len_;
    stats.sent += k;
    flush(c);
}

// k replies arrived: they answer the k oldest messages in flight (echo servers keep order).
inline void Worker::on_echoed(Conn& c, std::uint32_t k, std::int64_t now) {
    const std::size_t base = static_cast<std::size_t>(&c - conns_.data()) * opt_.inflight;
    const bool measuring = now >= measure_from_ns_ && now < measure_to_ns_;
    std::uint32_t matched = 0;
    for (; matched < k && c.ring_count > 0; ++matched) {
        const std::int64_t sent = ring_[base + c.ring_head];
        c.ring_head = (c.ring_head + 1) % opt_.inflight;
        --c.ring_count;
        if (measuring) stats.latency.record(static_cast<std::uint64_t>(now - sent));
    }
    if (matched < k) ++stats.protocol_errors;    // more replies than requests
    stats.received_all += matched;
    if (measuring) stats.received += matched;
    if (matched && !shared_.stop.load(std::memory_order_relaxed)) send_echo(c, matched, now);
}

// The unsigned integer after "KEY": (or \"KEY\": inside a JSON-string envelope); 0 if absent.
inline std::uint64_t json_number(std::string_view s, std::string_view quoted_key, std::string_view escaped_key) {
    auto at = s.find(quoted_key);
    std::size_t skip = quoted_key.size();
    if (at == std::string_view::npos) {
        at = s.find(escaped_key);
        skip = escaped_key.size();
        if (at == std::string_view::npos) return 0;
    }
    std::uint64_t v = 0;
    for (std::size_t i = at + skip; i < s.size(); ++i) {
        const char ch = s[i];
        if (ch == ' ') continue;
        if (ch < '0' || ch > '9') break;
        v = v * 10 + static_cast<std::uint64_t>(ch - '0');
    }
    return v;
}

// One delivered message: {"n":SEQ,"t":NS_SINCE_EPOCH,...} as the publisher wrote it.
inline void Worker::on_message(Conn& c, std::string_view data) {
    if (data.substr(0, 18) == "{\"herald\":\"missed\"") {
        ++stats.missed_signals;
        return;
    }
    const std::uint64_t n = json_number(data, "\"n\":", "\\\"n\\\":");
    const std::uint64_t t = json_number(data, "\"t\":", "\\\"t\\\":");
    if (n == 0) {
        ++stats.unparsed;
        return;
    }
    if (t != 0) {
        const std::int64_t now = real_ns();
        const std::int64_t lat = now - static_cast<std::int64_t>(t);
        stats.latency.record(lat > 0 ? static_cast<std::uint64_t>(lat) : 0);
    }
    if (n > c.last_n) {
        c.last_n = n;
        ++stats.deliveries;
        stats.last_delivery_ns = loop_now_;
    } else {
        ++stats.duplicates;
    }
}

inline void Worker::on_response(Conn& c) {
    if (c.is_publisher) on_publish_response(c);
    else on_poll_response(c);
}

inline void Worker::on_poll_response(Conn& c) {
    ++stats.polls;
    if (c.head.missed) ++stats.missed_signals;
    if (c.head.status == 200) {
        if (!c.head.etag.empty()) c.etag = c.head.etag;
        if (!c.head.last_modified.empty()) c.last_modified = c.head.last_modified;
        on_message(c, c.body);
    } else if (c.head.status == 304) {
        ++stats.poll_timeouts;
    } else {
        ++stats.http_errors;
        if (stats.http_errors <= 3 && !opt_.quiet)
            std::fprintf(stderr, "wsload: long-poll answered %d\n", c.head.status);
        drop(c, State::dead);
        return;
    }
    c.body.clear();
    if (shared_.stop.load(std::memory_order_relaxed)) return;
    if (c.head.close) {
        drop(c, State::unopened);
        open(c);
        return;
    }
    queue_request(c);
}

inline void Worker::on_publish_response(Conn& c) {
    const std::int64_t now = mono_ns();
    if (c.head.status >= 200 && c.head.status < 300) {
        ++stats.pub_ok;
    } else {
        if (stats.pub_errors++ < 3 && !opt_.quiet)
            std::fprintf(stderr, "wsload: publish answered %d: %.200s\n", c.head.status, c.body.c_str());
        shared_.published.fetch_sub(1, std::memory_order_release);
    }
    if (!c.sent_ns.empty()) {
        stats.pub_rtt.record(static_cast<std::uint64_t>(now - c.sent_ns.front()));
        c.sent_ns.pop_front();
    }
    c.body.clear();
    if (pub_seq_ >= pub_total_ && c.sent_ns.empty()) shared_.publish_done.store(true, std::memory_order_release);
    if (c.head.close) {
        lose_publishes(c);
        drop(c, State::unopened);
        open(c);
        return;
    }
    publish_tick(now);
}

// The publishing connection closed with requests unanswered: count them as failed.
inline void Worker::lose_publishes(Conn& c) {
    stats.pub_errors += c.sent_ns.size();
    shared_.published.fetch_sub(c.sent_ns.size(), std::memory_order_release);
    c.sent_ns.clear();
    if (pub_seq_ >= pub_total_) shared_.publish_done.store(true, std::memory_order_release);
}

// Sends every POST whose slot (start + seq / rate) has come, pipelined on the keep-alive
// connection (open loop: a slow response does not delay the next publish; at most 256 wait).
// Each message carries its sequence number and the wall-clock time it was sent.
inline void Worker::publish_tick(std::int64_t now) {
    Conn& c = *publisher_;
    if (c.state != State::open) return;
    const std::int64_t start = shared_.start_ns.load(std::memory_order_acquire);
    if (start == 0 || now < start) return;
    bool sent = false;
    while (pub_seq_ < pub_total_ && c.sent_ns.size() < 256) {
        const std::int64_t due = start + static_cast<std::int64_t>(pub_seq_) * pub_interval_ns_;
        if (now < due) break;
        if (now - due > 10000000) ++stats.pub_late;
        ++pub_seq_;
        append_publish(c);
        c.sent_ns.push_back(now);
        ++stats.pub_sent;
        shared_.published.fetch_add(1, std::memory_order_release);
        sent = true;
    }
    if (sent) flush(c);
}

inline void Worker::append_publish(Conn& c) {
    char head[64];
    const int len = std::snprintf(head, sizeof head, "{\"n\":%" PRIu64 ",\"t\":%" PRId64 ",\"p\":\"", pub_seq_,
                                  real_ns());
    std::string body(head, static_cast<std::size_t>(len));
    if (opt_.json) {  // {"n":..,"t":..,"p":[records]} of --size bytes
        body.pop_back();  // the opening quote: p is an array here
        const std::size_t room = opt_.size > body.size() + 1 ? opt_.size - body.size() - 1 : 2;
        body += json_payload(room, pub_seq_);
        body += '}';
    } else {
        if (body.size() + 2 < opt_.size) body.append(opt_.size - body.size() - 2, 'x');
        body += "\"}";
    }
    const Url& u = opt_.publish_url;
    std::string target = u.target;
    if (opt_.publish_channels > 1) {  // pub_seq_ counts from 1: channel 0 first
        const std::size_t at = target.find("{ch}");
        target.replace(at, 4, std::to_string((pub_seq_ - 1) % opt_.publish_channels));
    }
    c.out += "POST " + target + " HTTP/1.1\r\nHost: " + host_header(u) +
             "\r\nUser-Agent: wsload\r\nContent-Type: " + (opt_.json ? "application/json" : "text/plain") +
             "\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
}

inline int Worker::timeout_ms(std::int64_t now) const {
    if (!publisher_ || pub_seq_ >= pub_total_) return 5;
    const std::int64_t start = shared_.start_ns.load(std::memory_order_relaxed);
    if (start == 0) return 5;
    const std::int64_t due = start + static_cast<std::int64_t>(pub_seq_) * pub_interval_ns_;
    if (due <= now) return 0;
    return static_cast<int>(std::min<std::int64_t>(5, (due - now + 999999) / 1000000));
}

} // namespace wsload
