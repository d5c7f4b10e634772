// Unit tests for net/connection over a socketpair, a real EventLoop and a manual clock: input
// offered until the session stops consuming, pause and resume, a session replaced with bytes
// left over, the lifecycle (open -> closing_after_flush -> lingering -> closed, the peer's EOF
// on the way, close() from each state) and the send timeout.
#include <criterion/criterion.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include "core/histogram.hpp"
#include "net/connection.hpp"
#include "support/connection_rig.hpp"

using namespace herald;
using namespace herald::net;

namespace {

// A Session whose behaviour is the test's: on_data_fn decides how much it consumes.
struct Probe final : Session {
    using OnData = std::function<std::size_t(Probe&, std::string_view)>;
    Probe(Connection& c, OnData fn, bool* destroyed = nullptr)
        : Session(c), on_data_fn(std::move(fn)), destroyed_(destroyed) {}
    ~Probe() override {
        if (destroyed_) *destroyed_ = true;
    }
    std::size_t on_data(std::span<char> data) noexcept override {
        offers.emplace_back(data.data(), data.size());
        return on_data_fn(*this, offers.back());
    }
    void on_drained() noexcept override {
        ++drained;
        if (on_drained_fn) std::exchange(on_drained_fn, nullptr)();
    }
    void on_peer_closed() noexcept override {
        ++peer_closed;
        Session::on_peer_closed();
    }
    void on_close() noexcept override { ++closed; }
    Connection& conn() noexcept { return conn_; }

    OnData on_data_fn;
    std::function<void()> on_drained_fn;  // once, on the next drain
    std::vector<std::string> offers;  // every on_data() input, in order
    int drained = 0, peer_closed = 0, closed = 0;
    bool* destroyed_;
};

// Consumes whole lines only; the unconsumed tail is offered again with more bytes.
std::size_t whole_lines(Probe&, std::string_view in) {
    std::size_t nl = in.rfind('\n');
    return nl == std::string_view::npos ? 0 : nl + 1;
}

// Consumes everything; the first time, queues more than the socket holds and closes after it.
std::size_t big_answer_then_close(Probe& p, std::string_view in) {
    if (p.offers.size() == 1) {
        p.conn().out().push(std::string(4 << 20, 'x'));
        p.conn().close_after_flush();
    }
    return in.size();
}

// The rig with a Probe started as the connection's session.
struct Rig : test::ConnectionRig {
    Probe* probe = nullptr;
    explicit Rig(Probe::OnData fn, bool* destroyed = nullptr) {
        auto p = std::make_unique<Probe>(*conn, std::move(fn), destroyed);
        probe = p.get();
        conn->start(std::move(p));
    }
};

// The peer reads everything queued (want bytes), spinning the loop between reads, then spins
// once more; *eof tells whether our side then shut down its writing. Returns the bytes read.
std::size_t drain(test::ConnectionRig& r, std::size_t want, bool* eof) {
    std::size_t got = 0;
    for (int i = 0; i < 10000 && got < want; ++i) {
        got += r.receive(eof).size();
        r.spin(1);
    }
    r.spin();
    got += r.receive(eof).size();
    return got;
}

// A session that answers any input with "bye" and closes after the answer (so it lingers
// while the peer may still be sending).
std::size_t answer_bye_and_close(Probe& p, std::string_view in) {
    p.conn().out().push("bye\n");
    p.conn().close_after_flush();
    return in.size();
}

} // namespace

Test(connection, offers_input_until_the_session_stops_consuming, .timeout = 5.0) {
    Rig r(whole_lines);
    r.send("ab\ncd");
    r.spin();
    r.send("e\n");
    r.spin();
    // "cd" is offered once more at once (the session may want it after all), then kept and
    // offered again in front of the next bytes.
    cr_assert_eq(r.probe->offers.size(), 3u);
    cr_expect(r.probe->offers[0] == "ab\ncd");
    cr_expect(r.probe->offers[1] == "cd");
    cr_expect(r.probe->offers[2] == "cde\n", "the unconsumed tail comes first: \"%s\"",
              r.probe->offers[2].c_str());
}

Test(connection, paused_input_waits_and_resume_offers_it_again, .timeout = 5.0) {
    // The session takes one line, then pauses (as HTTP does while it writes a response).
    Rig r([](Probe& p, std::string_view in) -> std::size_t {
        std::size_t nl = in.find('\n');
        if (nl == std::string_view::npos) return 0;
        p.conn().pause_reading(true);
        return nl + 1;
    });
    r.send("one\ntwo\n");
    r.spin();
    r.send("three\n");
    r.spin();
    cr_assert_eq(r.probe->offers.size(), 1u, "nothing is offered while paused");
    r.conn->pause_reading(false);
    r.conn->resume_input();
    cr_assert_eq(r.probe->offers.size(), 2u);
    cr_expect(r.probe->offers[1] == "two\n", "the buffered rest: \"%s\"",
              r.probe->offers[1].c_str());
    r.conn->pause_reading(false);
    r.spin();
    cr_assert_eq(r.probe->offers.size(), 3u, "reading resumed");
    cr_expect(r.probe->offers[2] == "three\n");
}

Test(connection, a_replaced_session_gets_the_bytes_left_over, .timeout = 5.0) {
    bool old_destroyed = false, old_alive_after_replace = false;
    Probe* next = nullptr;
    Rig r(
        [&](Probe& p, std::string_view in) -> std::size_t {
            std::size_t nl = in.find('\n');
            if (nl == std::string_view::npos) return 0;
            auto n = std::make_unique<Probe>(p.conn(), whole_lines);
            next = n.get();
            p.conn().replace_session(std::move(n));
            old_alive_after_replace = !old_destroyed;  // the caller is still running
            return nl + 1;
        },
        &old_destroyed);
    r.send("UPGRADE\nframe1\nfra");
    r.loop.run_once(0);
    cr_assert_not_null(next);
    cr_expect(old_alive_after_replace);
    cr_expect(old_destroyed, "the old session is destroyed after the dispatch");
    cr_assert_geq(next->offers.size(), 1u);
    cr_expect(next->offers[0] == "frame1\nfra", "leftover: \"%s\"", next->offers[0].c_str());
    r.send("me2\n");
    r.spin();
    cr_expect(next->offers.back() == "frame2\n", "\"%s\"", next->offers.back().c_str());
    cr_expect(r.conn->session() == next);
}

Test(connection, replacing_without_consuming_hands_over_everything, .timeout = 5.0) {
    Probe* next = nullptr;
    Rig r([&](Probe& p, std::string_view) -> std::size_t {
        auto n = std::make_unique<Probe>(p.conn(), whole_lines);
        next = n.get();
        p.conn().replace_session(std::move(n));
        return 0;
    });
    r.send("all\nof it\n");
    r.spin();
    cr_assert_not_null(next);
    cr_assert_eq(next->offers.size(), 1u);
    cr_expect(next->offers[0] == "all\nof it\n");
}

Test(connection, close_after_flush_lingers_until_the_peer_closes, .timeout = 5.0) {
    Rig r(answer_bye_and_close);
    r.send("request\n");
    r.spin();
    bool eof = false;
    cr_expect(r.receive(&eof) == "bye\n");
    cr_expect(eof, "our side is shut down for writing");
    cr_expect(!r.conn->closed(), "lingering: input is still read");
    r.send("late bytes the peer sent before it saw the answer\n");
    r.spin();
    cr_expect_eq(r.probe->offers.size(), 1u, "input is discarded while lingering");
    cr_expect(!r.conn->closed());
    r.client.reset();
    r.spin();
    cr_expect(r.conn->closed(), "the peer's close ends the linger");
    cr_expect_eq(r.probe->closed, 1);
}

Test(connection, a_linger_ends_after_linger_timeout, .timeout = 5.0) {
    Rig r(answer_bye_and_close);
    r.send("request\n");
    r.spin();
    r.clock.advance(Connection::linger_timeout - std::chrono::milliseconds(1));
    r.spin();
    cr_expect(!r.conn->closed(), "still lingering just before the timeout");
    r.clock.advance(std::chrono::milliseconds(1));
    r.spin();
    cr_expect(r.conn->closed(), "closed at linger_timeout");
    cr_expect_eq(r.probe->closed, 1);
}

Test(connection, a_peer_that_closed_first_is_closed_without_linger, .timeout = 5.0) {
    Rig r(whole_lines);
    r.send("last\n");
    ::shutdown(r.client.get(), SHUT_WR);
    r.spin();
    cr_expect_eq(r.probe->peer_closed, 1);
    cr_expect(r.conn->closed(), "nothing queued, peer gone: closed at once");
}

Test(connection, a_write_stall_past_send_timeout_closes, .timeout = 5.0) {
    Rig r([](Probe& p, std::string_view in) -> std::size_t {
        p.conn().out().push(std::string(4 << 20, 'x'));  // more than the socket holds
        p.conn().flush_soon();
        return in.size();
    });
    r.conn->set_send_timeout(std::chrono::seconds(5));
    r.send("go\n");
    r.spin();
    cr_expect(!r.conn->closed());
    cr_expect_eq(r.probe->drained, 0);
    r.clock.advance(std::chrono::seconds(5));
    r.spin();
    cr_expect(r.conn->closed(), "no byte accepted for send_timeout");
}

Test(connection, a_drained_queue_is_reported_to_the_session, .timeout = 5.0) {
    Rig r([](Probe& p, std::string_view in) -> std::size_t {
        p.conn().out().push(std::string(in));
        p.conn().flush_soon();
        return in.size();
    });
    r.send("echo\n");
    r.spin();
    cr_expect(r.receive() == "echo\n");
    cr_expect_eq(r.probe->drained, 1);
}

Test(connection, close_after_flush_still_offers_input_while_the_queue_drains, .timeout = 5.0) {
    Rig r(big_answer_then_close);
    r.send("request\n");
    r.spin();
    cr_expect(r.conn->closing());
    cr_expect(!r.conn->closed(), "the answer is still being written");
    r.send("more from a peer that has not seen the answer\n");
    r.spin();
    cr_expect_eq(r.probe->offers.size(), 2u, "input is offered until the queue drains");
    bool eof = false;
    cr_expect_eq(drain(r, std::size_t{4} << 20, &eof), std::size_t{4} << 20);
    cr_expect(eof, "our side is shut down for writing");
    cr_expect(!r.conn->closed(), "drained, peer still open: lingering");
    cr_expect_eq(r.probe->drained, 0, "on_drained is not reported once closing");
    r.client.reset();
    r.spin();
    cr_expect(r.conn->closed());
    cr_expect_eq(r.probe->closed, 1);
}

Test(connection, a_peer_eof_while_the_queue_drains_closes_without_linger, .timeout = 5.0) {
    Rig r(big_answer_then_close);
    r.send("request\n");
    r.spin();
    ::shutdown(r.client.get(), SHUT_WR);
    r.spin();
    cr_expect(r.conn->peer_closed());
    cr_expect_eq(r.probe->peer_closed, 1);
    cr_expect(!r.conn->closed(), "the queued answer is still written");
    bool eof = false;
    cr_expect_eq(drain(r, std::size_t{4} << 20, &eof), std::size_t{4} << 20);
    cr_expect(r.conn->closed(), "drained after the peer's EOF: closed, no linger");
    cr_expect(!eof, "no shutdown(SHUT_WR): the fd is closed when reaped");
    cr_expect_eq(r.probe->closed, 1);
}

Test(connection, close_while_lingering_closes_once, .timeout = 5.0) {
    Rig r(answer_bye_and_close);
    r.send("request\n");
    r.spin();
    cr_assert(!r.conn->closed(), "lingering");
    r.conn->close();
    cr_expect(r.conn->closed());
    r.conn->close();
    r.spin();
    cr_expect_eq(r.probe->closed, 1, "on_close once; the linger timer is gone (teardown)");
}

Test(connection, pausing_does_not_stop_a_linger_from_reading, .timeout = 5.0) {
    Rig r(answer_bye_and_close);
    r.send("request\n");
    r.spin();
    r.conn->pause_reading(true);
    r.send("late\n");
    r.client.reset();
    r.spin();
    cr_expect(r.conn->closed(), "the peer's close is seen while lingering, paused or not");
    cr_expect_eq(r.probe->offers.size(), 1u);
}

Test(connection, a_paused_connection_sees_the_peer_eof_only_when_resumed, .timeout = 5.0) {
    Rig r([](Probe& p, std::string_view in) -> std::size_t {
        p.conn().pause_reading(true);
        return in.size();
    });
    r.send("one\n");
    r.spin();
    ::shutdown(r.client.get(), SHUT_WR);
    r.spin();
    cr_expect(!r.conn->peer_closed(), "not read while paused");
    cr_expect_eq(r.probe->peer_closed, 0);
    r.conn->pause_reading(false);
    r.spin();
    cr_expect(r.conn->peer_closed());
    cr_expect_eq(r.probe->peer_closed, 1);
    cr_expect(r.conn->closed(), "nothing queued: closed at once");
}

Test(connection, close_from_open_drops_the_queue_and_closes_once, .timeout = 5.0) {
    Rig r([](Probe& p, std::string_view in) -> std::size_t {
        p.conn().out().push("never sent\n");
        p.conn().flush_soon();
        p.conn().close();
        return in.size();
    });
    r.send("x\n");
    r.spin();
    cr_expect(r.conn->closing());
    cr_expect(r.conn->closed());
    bool eof = false;
    cr_expect(r.receive(&eof).empty(), "queued output is dropped");
    cr_expect_eq(r.probe->closed, 1);
    cr_expect_eq(r.probe->drained, 0);
}

// The read path's two ways of keeping a cut message: a short leftover (up to a quarter of the
// 64 KiB scratch buffer) goes back in front of the next read, a longer one grows in the
// connection's own buffer. Either way the session sees every byte once, in order.
Test(connection, cut_messages_short_and_long_reach_the_session_whole_and_in_order,
     .timeout = 5.0) {
    std::string consumed;
    Rig r([&consumed](Probe& p, std::string_view in) {
        std::size_t n = whole_lines(p, in);
        consumed.append(in.substr(0, n));
        return n;
    });
    std::string sent;
    auto line = [](std::size_t len, char c) { return std::string(len - 1, c) + "\n"; };
    // 5,000-byte lines sent 7,000 bytes at a time: every read cuts a line (short leftovers).
    std::string shorts;
    for (char c = 'a'; c < 'a' + 20; ++c) shorts += line(5'000, c);
    for (std::size_t off = 0; off < shorts.size(); off += 7'000) {
        r.send(std::string_view(shorts).substr(off, 7'000));
        r.spin(1);
    }
    sent += shorts;
    // One 40,000-byte line in 5,000-byte writes: the leftover passes 16 KiB (the long way).
    const std::string longline = line(40'000, 'L');
    for (std::size_t off = 0; off < longline.size(); off += 5'000) {
        r.send(std::string_view(longline).substr(off, 5'000));
        r.spin(1);
    }
    sent += longline;
    r.send(line(10, 'z'));  // after the long one, back to short
    sent += line(10, 'z');
    r.spin();
    cr_assert_eq(consumed.size(), sent.size());
    cr_expect(consumed == sent, "every byte once, in order");
}

// Server::end_of_iteration looks at the loop's posted work every flush_slice connections of
// its first pass: work another thread posts while thousands of connections are flushed (an
// answer a pipelined request waits for, messages to deliver) runs within the pass, what it
// queues leaves in the same iteration, and posted work that dirties every connection again
// cannot keep the passes going (only the first pass looks at posts).
Test(connection, work_posted_during_a_long_flush_pass_runs_within_it, .timeout = 10.0) {
    constexpr std::size_t n = 2 * net::Server::flush_slice + 40;
    ManualClock clock;
    EventLoop loop{clock};
    net::Server server{loop, {}, 16};
    std::vector<UniqueFd> peers;
    std::vector<std::unique_ptr<Connection>> conns;
    std::vector<Probe*> probes;
    for (std::size_t i = 0; i < n; ++i) {
        int sv[2];
        cr_assert_eq(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        peers.emplace_back(sv[1]);
        conns.push_back(std::make_unique<Connection>(server, UniqueFd(sv[0]), Address{}, 0));
        auto p = std::make_unique<Probe>(*conns.back(), [](Probe&, std::string_view in) { return in.size(); });
        probes.push_back(p.get());
        conns.back()->start(std::move(p));
    }
    auto drained = [&] {
        int d = 0;
        for (const Probe* p : probes) d += p->drained;
        return d;
    };
    auto queue_all = [&](const char* what) {
        for (auto& c : conns) {
            c->out().push(std::string(what));
            c->flush_soon();
        }
    };
    int drained_when_run = -1, again_runs = 0;
    bool ending = false;
    std::function<void()> again = [&] {  // every connection has output again, and it reposts
        if (ending) return;
        ++again_runs;
        queue_all("y");
        loop.post(again);
    };
    // Another thread posts while the pass runs (the first connection's drain starts it).
    // What it publishes is timed from its own publish: the pass reads the clock again.
    Histogram latency;
    probes[0]->on_drained_fn = [&] {
        std::thread([&] {
            loop.post([&] {
                drained_when_run = drained();
                conns[1]->out().push(std::string("late"));  // flushed already in this pass
                conns[1]->flush_soon();
                const Clock::time_point published = clock.now() + std::chrono::milliseconds(500);
                clock.advance(std::chrono::seconds(1));
                conns[n - 1]->out().push(std::string("d"));  // not flushed yet in this pass
                conns[n - 1]->out().stamp_delivery(published, latency);
                loop.post(again);
            });
        }).join();
    };
    queue_all("x");
    loop.run_once(0);  // one iteration: its flush passes (deferred work) end
    cr_assert_geq(drained_when_run, 0, "the post ran within the iteration");
    cr_expect_lt(drained_when_run, static_cast<int>(n), "before the pass ended (%d)", drained_when_run);
    cr_expect_eq(again_runs, 1, "later passes do not look at posts (%d)", again_runs);
    char buf[16];
    cr_expect_eq(::read(peers[1].get(), buf, sizeof buf), 6, "what it queued left in the iteration");
    cr_expect_eq(std::string_view(buf, 6), "xlatey");
    for (std::size_t i = 2; i < n - 1; ++i) {
        cr_expect_eq(::read(peers[i].get(), buf, sizeof buf), 2);
        cr_expect_eq(std::string_view(buf, 2), "xy");
    }
    cr_expect_eq(::read(peers[n - 1].get(), buf, sizeof buf), 3);
    cr_expect_eq(std::string_view(buf, 3), "xdy");
    const Histogram::Snapshot lat = latency.snapshot();
    cr_expect_eq(lat.count, 1u);
    cr_expect_eq(lat.sum_ns, 500'000'000u, "timed from the clock read after the posted work (%llu ns)",
                 static_cast<unsigned long long>(lat.sum_ns));
    ending = true;
    for (auto& c : conns) c->close();
    loop.run_once(0);  // reaps
    conns.clear();
}
