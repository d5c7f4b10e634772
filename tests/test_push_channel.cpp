// Unit tests: Channel ring buffer, ttl, resume lookups (missed cases), subscriber counts,
// close, and the clock source payload.
#include <criterion/criterion.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "push/channel.hpp"

using herald::config::ChannelConf;
using herald::ManualClock;
using herald::config::PushStrategy;
using herald::push::Channel;
using herald::push::History;
using herald::push::Message;
using namespace std::chrono_literals;

namespace {

ChannelConf conf(std::uint32_t buffer, herald::Duration ttl = herald::Duration{0},
                 std::uint32_t max_subscribers = 0) {
    ChannelConf c;
    c.name = "chat";
    c.buffer = buffer;
    c.ttl = ttl;
    c.max_subscribers = max_subscribers;
    return c;
}

std::uint64_t publish(Channel& ch, std::string data = "m") {
    auto a = ch.append(std::make_shared<Message>("chat", std::move(data), "text/plain"));
    cr_assert(a.message);
    return a.message->id;
}

std::vector<std::uint64_t> ids(const History& h) {
    std::vector<std::uint64_t> v;
    for (const auto& m : h.messages) v.push_back(m->id);
    return v;
}

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = from; i <= to; ++i) v.push_back(i);
    return v;
}

} // namespace

Test(push_channel, ids_increase_and_buffer_keeps_last_n) {
    ManualClock clock;
    Channel ch(conf(3), clock);
    for (std::uint64_t i = 1; i <= 5; ++i) cr_expect(publish(ch) == i);
    const History h = ch.after(0);
    cr_expect(ids(h) == range(3, 5));
    cr_expect(h.first_id == 3 && h.last_id == 5);
    cr_expect(ch.info().buffered == 3 && ch.info().published == 5);
}

// Resume lookups on a channel holding ids 4..8 (buffer 5, 8 published).
Test(push_channel, after_id_table) {
    static const struct {
        const char* name;
        std::optional<std::uint64_t> since;
        std::size_t limit;
        std::vector<std::uint64_t> want;
        bool missed;
    } cases[] = {
        {"no since: newest", std::nullopt, 1, {8}, false},
        {"no since: newest 3", std::nullopt, 3, {6, 7, 8}, false},
        {"no since: all", std::nullopt, SIZE_MAX, {4, 5, 6, 7, 8}, false},
        {"since just before first", 3, SIZE_MAX, {4, 5, 6, 7, 8}, false},
        {"since first", 4, SIZE_MAX, {5, 6, 7, 8}, false},
        {"since middle", 6, SIZE_MAX, {7, 8}, false},
        {"since middle limit 1", 6, 1, {7}, false},
        {"since last", 8, SIZE_MAX, {}, false},
        {"older than buffer", 2, SIZE_MAX, {4, 5, 6, 7, 8}, true},
        {"zero, buffer dropped 1..3", 0, SIZE_MAX, {4, 5, 6, 7, 8}, true},
        {"older than buffer limit 1", 1, 1, {4}, true},
        {"never had", 9, SIZE_MAX, {4, 5, 6, 7, 8}, true},
        {"never had, huge", UINT64_MAX, SIZE_MAX, {4, 5, 6, 7, 8}, true},
    };
    ManualClock clock;
    Channel ch(conf(5), clock);
    for (int i = 0; i < 8; ++i) publish(ch);
    for (const auto& c : cases) {
        const History h = ch.after(c.since, c.limit);
        cr_expect(ids(h) == c.want, "%s: %zu messages", c.name, h.messages.size());
        cr_expect(h.missed == c.missed, "%s: missed %d", c.name, h.missed);
        cr_expect(h.first_id == 4 && h.last_id == 8, "%s", c.name);
    }
}

Test(push_channel, after_id_on_empty_buffers) {
    ManualClock clock;
    Channel fresh(conf(5), clock);
    History h = fresh.after(0);
    cr_expect(h.messages.empty() && !h.missed && h.first_id == 0 && h.last_id == 0);
    cr_expect(fresh.after(1).missed, "id the channel never had");
    cr_expect(!fresh.after(std::nullopt).missed);

    Channel none(conf(0), clock);  // buffer 0: nothing kept
    for (int i = 0; i < 3; ++i) publish(none);
    cr_expect(!none.after(3).missed, "up to date");
    h = none.after(2);
    cr_expect(h.missed && h.messages.empty() && h.first_id == 0 && h.last_id == 3);
    cr_expect(none.after(4).missed);
}

Test(push_channel, ttl_drops_old_messages) {
    ManualClock clock;
    Channel ch(conf(10, herald::Duration{1000}), clock);
    publish(ch);          // t = 0
    clock.advance(600ms);
    publish(ch);          // t = 600
    cr_expect(ids(ch.after(0)) == range(1, 2));
    clock.advance(400ms);  // t = 1000: id 1 is exactly ttl old
    History h = ch.after(0);
    cr_expect(ids(h) == range(2, 2) && h.missed && h.first_id == 2);
    cr_expect(!ch.after(1).missed);
    clock.advance(600ms);
    h = ch.after(2);
    cr_expect(h.messages.empty() && !h.missed && h.first_id == 0 && h.last_id == 2);
    cr_expect(ch.after(1).missed);
    cr_expect(publish(ch) == 3, "ids continue after expiry");
}

Test(push_channel, reconfigure_keeps_ids) {
    ManualClock clock;
    Channel ch(conf(5), clock);
    for (int i = 0; i < 7; ++i) publish(ch);  // buffered 3..7, ring wrapped
    ch.reconfigure(conf(2));
    cr_expect(ids(ch.after(0)) == range(6, 7));
    ch.reconfigure(conf(4));
    for (int i = 0; i < 3; ++i) publish(ch);
    cr_expect(ids(ch.after(0)) == range(7, 10));
    ch.reconfigure(conf(0));
    cr_expect(ch.after(0).messages.empty());
    cr_expect(publish(ch) == 11);
}

// Random appends, clock steps, reconfigures and lookups against a plain deque model: catches
// ring wrap-around, growth after ttl pops, and shrinking.
Test(push_channel, ring_matches_model) {
    ManualClock clock;
    std::mt19937 rng(7);
    std::uint32_t buffer = 4;
    const herald::Duration ttl{50};
    Channel ch(conf(buffer, ttl), clock);
    std::deque<std::pair<std::uint64_t, std::int64_t>> model;  // id, publish time (ms)
    std::int64_t now = 0;
    std::uint64_t last = 0;
    for (int step = 0; step < 5000; ++step) {
        const unsigned op = rng() % 10;
        if (op < 5) {
            cr_assert(publish(ch) == ++last);
            model.emplace_back(last, now);
        } else if (op < 8) {
            const int d = static_cast<int>(rng() % 20);
            clock.advance(std::chrono::milliseconds(d));
            now += d;
        } else if (op == 8) {
            buffer = rng() % 7;
            ch.reconfigure(conf(buffer, ttl));
        }
        while (model.size() > buffer) model.pop_front();
        while (!model.empty() && model.front().second + ttl.count() <= now) model.pop_front();
        const std::uint64_t since = last == 0 ? 0 : rng() % (last + 2);
        const History h = ch.after(since);
        std::vector<std::uint64_t> want;
        for (const auto& [id, t] : model)
            if (id > since || since > last) want.push_back(id);
        cr_assert(ids(h) == want, "step %d since %llu", step, (unsigned long long)since);
        const std::uint64_t first = model.empty() ? last + 1 : model.front().first;
        cr_assert(h.missed == (since + 1 < first || since > last), "step %d", step);
    }
}

Test(push_channel, join_counts_and_history_are_atomic_with_append) {
    ManualClock clock;
    Channel ch(conf(10, herald::Duration{0}, 2), clock);
    publish(ch);
    publish(ch);
    History h;
    cr_expect(ch.join(1, PushStrategy::sse, 1, h) == Channel::JoinStatus::ok);
    cr_expect(ids(h) == range(2, 2) && h.last_id == 2 && !h.missed);
    cr_expect(ch.join(0, PushStrategy::websocket, std::nullopt, h) == Channel::JoinStatus::ok);
    cr_expect(h.messages.empty() && h.last_id == 2);
    cr_expect(ch.join(0, PushStrategy::sse, 0, h) == Channel::JoinStatus::full);

    std::vector<herald::push::WorkerId> workers;
    auto a = ch.append(std::make_shared<Message>("chat", "x", ""),
                       [&](herald::push::WorkerId w, const std::shared_ptr<const Message>& m) {
                           cr_expect(m->id == 3);
                           workers.push_back(w);
                       });
    cr_expect(a.subscribers == 2);
    cr_expect(workers == std::vector<herald::push::WorkerId>({0, 1}));

    const herald::push::ChannelInfo info = ch.info();
    cr_expect(info.total_subscribers == 2);
    cr_expect(info.subscribers[static_cast<std::size_t>(PushStrategy::sse)] == 1);
    cr_expect(info.subscribers[static_cast<std::size_t>(PushStrategy::websocket)] == 1);
    ch.leave(1, PushStrategy::sse);
    workers.clear();
    ch.append(std::make_shared<Message>("chat", "y", ""),
              [&](herald::push::WorkerId w, const auto&) { workers.push_back(w); });
    cr_expect(workers == std::vector<herald::push::WorkerId>({0}));
    cr_expect(ch.subscriber_count() == 1);
}

Test(push_channel, close_stops_everything) {
    ManualClock clock;
    Channel ch(conf(10), clock);
    History h;
    cr_expect(ch.join(3, PushStrategy::iframe, std::nullopt, h) == Channel::JoinStatus::ok);
    publish(ch);
    std::vector<herald::push::WorkerId> workers;
    cr_expect(ch.close([&](herald::push::WorkerId w) { workers.push_back(w); }));
    cr_expect(workers == std::vector<herald::push::WorkerId>({3}));
    cr_expect(!ch.close([](herald::push::WorkerId) {}), "second close is a no-op");
    cr_expect(!ch.append(std::make_shared<Message>("chat", "x", "")).message);
    cr_expect(ch.join(0, PushStrategy::sse, 0, h) == Channel::JoinStatus::closed);
    cr_expect(ch.info().buffered == 0);
}

Test(push_channel, append_sets_times) {
    ManualClock clock;
    Channel ch(conf(1), clock);
    const auto before = std::chrono::system_clock::now();
    auto a = ch.append(std::make_shared<Message>("chat", "x", ""));
    cr_expect(a.message->published_steady == clock.now());
    cr_expect(a.message->published_at >= before);
}

Test(push_channel, clock_message_format) {
    setenv("TZ", "UTC", 1);
    tzset();
    using std::chrono::system_clock;
    cr_expect(herald::push::clock_message(system_clock::time_point{}) == "1970-01-01 00:00:00");
    const auto t = system_clock::from_time_t(1700000000) + 999ms;  // 2023-11-14 22:13:20 UTC
    cr_expect(herald::push::clock_message(t) == "2023-11-14 22:13:20");
}
