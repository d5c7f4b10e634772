// wsload: one event-loop thread (epoll, level-triggered, non-blocking sockets) driving a share of
// the connections. Declarations; the member functions live in worker_io.hpp (sockets, connect
// pacing, HTTP/WebSocket plumbing) and worker_modes.hpp (echo, subscribe, publish). Part of the
// single-TU wsload build.
#pragma once

#include <atomic>
#include <deque>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "deflate/inflater.hpp"
#include "ws/deflate_frame.hpp"
#include "histogram.hpp"
#include "http_client.hpp"
#include "options.hpp"
#include "ws_client.hpp"

namespace wsload {

// --json: a JSON array of records (ids, names, prices, tags, short texts) of exactly `size`
// bytes (padded with spaces), different for each seed. herald's deflater at level 6 makes
// 1 KiB of it 2.5x smaller and 4 KiB 3.4x (measured: the fan-out's bytes per delivery, and
// a 4 KiB sample), where a run of one letter would compress 100-fold.
inline std::string json_payload(std::size_t size, std::uint64_t seed) {
    static const char* const words[] = {
        "alpha", "bravo", "market", "update", "price", "order", "filled", "pending", "user",
        "session", "quote", "delta", "north", "south", "green", "amber", "stream", "notice",
        "shipment", "invoice", "ticket", "closed", "opened", "review", "comment", "status"};
    constexpr std::size_t nwords = sizeof words / sizeof words[0];
    std::uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    const auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    std::string out = "[";
    for (;;) {
        char rec[256];
        const int n = std::snprintf(
            rec, sizeof rec,
            "%s{\"id\":%llu,\"user\":\"%s%llu\",\"price\":%llu.%02llu,\"tags\":[\"%s\",\"%s\"],"
            "\"text\":\"%s %s %s\"}",
            out.size() > 1 ? "," : "", static_cast<unsigned long long>(next() % 1000000),
            words[next() % nwords], static_cast<unsigned long long>(next() % 10000),
            static_cast<unsigned long long>(next() % 5000), static_cast<unsigned long long>(next() % 100),
            words[next() % nwords], words[next() % nwords], words[next() % nwords],
            words[next() % nwords], words[next() % nwords]);
        if (n <= 0 || out.size() + static_cast<std::size_t>(n) + 1 > size) break;
        out.append(rec, static_cast<std::size_t>(n));
    }
    out += ']';
    if (out.size() < size) out.insert(out.size() - 1, size - out.size(), ' ');
    return out;
}

// State shared by all workers and the main thread. Everything in it is atomic.
struct Shared {
    explicit Shared(const Options& o) : opt(o) {}
    const Options& opt;
    std::atomic<std::uint64_t> ready{0};        // subscriber/echo connections open
    std::atomic<std::uint64_t> gave_up{0};      // connections that failed after all retries
    std::atomic<bool> publisher_ready{false};
    std::atomic<std::int64_t> start_ns{0};      // monotonic; 0 until the main thread says go
    std::atomic<std::int64_t> measure_from_ns{0};
    std::atomic<std::int64_t> measure_to_ns{0};
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> delivered{0};    // subscribe: unique deliveries so far
    std::atomic<std::uint64_t> published{0};    // publisher: sent and not refused
    std::atomic<bool> publish_done{false};
};

struct Stats {
    std::uint64_t connect_errors = 0;    // connect() or SO_ERROR failures (each attempt)
    std::uint64_t handshake_errors = 0;  // upgrade/GET answered with something unexpected
    std::uint64_t peer_closed = 0;       // open connections the server closed
    std::uint64_t protocol_errors = 0;   // frames or HTTP a server must not send
    std::uint64_t sent = 0;              // echo: messages sent
    std::uint64_t received = 0;          // echo: messages received inside the measured window
    std::uint64_t received_all = 0;      // echo: messages received in total
    std::uint64_t deliveries = 0;        // subscribe: first receipt of a message id per connection
    std::uint64_t duplicates = 0;        // subscribe: ids received again or out of order
    std::uint64_t unparsed = 0;          // subscribe: messages without an "n" sequence number
    std::uint64_t missed_signals = 0;    // subscribe: herald "missed" frames/events/headers
    std::uint64_t polls = 0;             // long-poll responses
    std::uint64_t poll_timeouts = 0;     // long-poll 304s
    std::uint64_t http_errors = 0;       // unexpected HTTP statuses
    std::uint64_t pub_sent = 0;
    std::uint64_t pub_ok = 0;            // 2xx responses
    std::uint64_t pub_errors = 0;        // other responses, or lost with the connection
    std::uint64_t pub_late = 0;          // publishes sent more than 10 ms after their slot
    std::uint64_t bytes_in = 0;          // bytes read from the server (ws/sse/raw connections)
    std::uint64_t inflated = 0;          // ws --deflate: compressed messages received
    std::int64_t last_delivery_ns = 0;   // monotonic time of the last delivery
    Histogram latency;                   // echo: round trip; subscribe: publish -> delivery
    Histogram pub_rtt;                   // publisher: POST -> response
};

enum class State : std::uint8_t { unopened, connecting, handshake, open, dead };
enum class BodyMode : std::uint8_t { head, length, chunked, until_close, stream };

// One client connection. Owns its fd (closed by Worker::drop). Plain data: the worker drives it.
struct Conn {
    int fd = -1;
    std::uint32_t global_index = 0;  // across threads: picks the source address
    State state = State::unopened;
    BodyMode body_mode = BodyMode::head;
    bool is_publisher = false;
    bool want_write = false;         // EPOLLOUT currently registered
    bool counted_ready = false;
    std::uint8_t attempts = 0;
    std::uint32_t gen = 0;           // bumped on every close: stale epoll events are skipped
    std::string in;                  // unparsed response-head / HTTP bytes
    std::string out;                 // queued bytes other than echo frames
    std::string body;                // HTTP body or message being assembled
    FrameParser frames;
    ResponseHead head;
    ChunkedDecoder chunked;
    SseParser sse;
    std::int64_t body_left = 0;
    // echo: the pending part of the worker's frame template, and the send-time ring
    std::uint64_t tpl_pending = 0;
    std::uint32_t tpl_off = 0;
    std::uint32_t ring_head = 0;
    std::uint32_t ring_count = 0;
    std::uint64_t raw_rx = 0;
    // subscribe
    std::uint64_t last_n = 0;
    std::string etag;
    std::string last_modified;
    // publisher: requests sent and not answered yet (pipelined), oldest first
    std::deque<std::int64_t> sent_ns;
};

// Drives conns[i] for i in its share, or (publisher) only the publishing connection, on a thread
// of its own so that its pacing does not wait on the subscribers' reads. Only its own thread
// touches a Worker until run() returns; then the main thread reads stats.
class Worker {
public:
    Worker(Shared& shared, std::vector<std::uint32_t> indices, bool publisher);
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    ~Worker();

    void run();
    Stats stats;

private:
    // worker_io.hpp
    void open_more();
    void open(Conn& c);
    void on_event(Conn& c, std::uint32_t events);
    void on_connected(Conn& c);
    void on_readable(Conn& c);
    void on_closed(Conn& c);
    void on_bytes(Conn& c, std::string_view data);
    void on_handshake_bytes(Conn& c, std::string_view data);
    void on_http_bytes(Conn& c, std::string_view data);
    void on_stream_bytes(Conn& c, std::string_view data);
    void on_ws_bytes(Conn& c, std::string_view data);
    void on_ws_frame(Conn& c, std::uint8_t opcode, bool fin, std::string_view payload);
    bool flush(Conn& c);
    void set_write_interest(Conn& c, bool on);
    void fail_connect(Conn& c);
    void drop(Conn& c, State next);
    void mark_ready(Conn& c);
    void queue_request(Conn& c);
    void queue_control(Conn& c, std::uint8_t opcode, std::string_view payload);
    std::size_t subscriber_count() const noexcept;
    std::uint64_t token(const Conn& c) const noexcept;
    void report_once(const char* call, int err);

    // worker_modes.hpp
    void start_echo(std::int64_t now);
    void send_echo(Conn& c, std::uint32_t k, std::int64_t now);
    void on_echoed(Conn& c, std::uint32_t k, std::int64_t now);
    void on_message(Conn& c, std::string_view data);
    void on_ws_message(Conn& c, std::string_view payload, bool compressed);
    void on_response(Conn& c);
    void on_poll_response(Conn& c);
    void on_publish_response(Conn& c);
    void publish_tick(std::int64_t now);
    void append_publish(Conn& c);
    void lose_publishes(Conn& c);
    int timeout_ms(std::int64_t now) const;

    Shared& shared_;
    const Options& opt_;
    int epfd_ = -1;
    std::vector<Conn> conns_;         // the share; the publisher is appended last
    Conn* publisher_ = nullptr;
    std::size_t next_open_ = 0;       // conns_[next_open_..] not opened yet
    std::vector<std::size_t> retry_;  // failed connects waiting for another attempt
    unsigned opening_ = 0;            // connecting or handshaking now
    std::vector<char> rbuf_;
    std::vector<std::string> requests_;  // upgrade / GET request per --url
    const Url& url_of(const Conn& c) const noexcept { return opt_.urls[c.global_index % opt_.urls.size()]; }
    std::string tpl_;                 // echo: inflight+1 masked frames (or raw messages)
    std::string inflated_;            // subscribe --deflate: the message being read
    std::uint32_t frame_len_ = 0;
    std::vector<std::int64_t> ring_;  // echo: send times, inflight per connection
    bool echo_started_ = false;
    std::int64_t loop_now_ = 0;       // monotonic, read once per loop iteration
    std::int64_t measure_from_ns_ = 0;
    std::int64_t measure_to_ns_ = 0;
    unsigned reported_errors_ = 0;
    unsigned handshake_reported_ = 0;
    std::uint64_t delivered_reported_ = 0;
    std::uint64_t pub_seq_ = 0;       // publishes sent
    std::uint64_t pub_total_ = 0;
    std::int64_t pub_interval_ns_ = 0;
};

} // namespace wsload
