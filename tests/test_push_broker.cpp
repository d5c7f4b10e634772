// Unit tests: the in-memory Broker. Single-thread behaviour runs on a fake loop whose posted
// tasks the test runs by hand; the cross-thread test uses real EventLoops on threads.
#include <criterion/criterion.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "event/event_loop.hpp"
#include "push/broker.hpp"
#include "support/fake_loop.hpp"

using herald::config::Config;
using herald::config::PushStrategy;
using herald::push::LocalBroker;
using herald::push::Message;
using herald::push::PushError;
using herald::push::Subscription;
using herald::push::WorkerId;

namespace {
// A resume point in the channel's current life, as "0" and in-process callers name it.
std::optional<herald::push::Cursor> at(std::optional<std::uint64_t> seq) {
    if (!seq) return std::nullopt;
    return herald::push::Cursor{0, *seq, false};
}
} // namespace

namespace {

using herald::test::FakeLoop;

struct Recorder final : herald::push::Subscriber {
    explicit Recorder(PushStrategy s = PushStrategy::sse) : Subscriber(s) {}
    std::vector<std::uint64_t> ids;
    std::vector<std::uint64_t> history;
    bool missed = false;
    int closed = 0;
    std::function<void(Recorder&, const Message&)> on_deliver;
    std::function<void(Recorder&)> on_close;
    Subscription sub;

    void deliver(const std::shared_ptr<const Message>& m) noexcept override {
        ids.push_back(m->id);
        if (on_deliver) on_deliver(*this, *m);
    }
    void on_channel_closed() noexcept override {
        ++closed;
        if (on_close) on_close(*this);
    }
    int resets = 0;
    void on_channel_reset() noexcept override { ++resets; }
};

herald::config::ChannelConf channel(std::string name, std::uint32_t buffer = 100,
                            std::uint32_t max_subscribers = 0) {
    herald::config::ChannelConf c;
    c.name = std::move(name);
    c.buffer = buffer;
    c.max_subscribers = max_subscribers;
    return c;
}

Config config(std::vector<herald::config::ChannelConf> channels, bool autocreate = false) {
    Config cfg;
    cfg.channels = std::move(channels);
    cfg.channel_autocreate = autocreate;
    cfg.autocreate_defaults = channel("", 2);
    return cfg;
}

PushError subscribe(LocalBroker& b, Recorder& r, WorkerId w, const char* ch = "chat",
                    std::optional<std::uint64_t> since = std::nullopt) {
    herald::push::SubscribeResult res = b.subscribe(ch, at(since), r, w);
    for (const auto& m : res.history.messages) r.history.push_back(m->id);
    r.missed = res.history.missed;
    r.sub = std::move(res.subscription);
    return res.error;
}

std::uint64_t publish(LocalBroker& b, const char* ch = "chat", const char* data = "x") {
    herald::push::PublishResult r = b.publish(ch, data, "text/plain");
    cr_assert(r.error == PushError::none, "publish %s: %s", ch, to_string(r.error));
    return r.id;
}

using Ids = std::vector<std::uint64_t>;

} // namespace

Test(broker, publish_reaches_subscribers) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("chat")}));
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    Recorder r1, r2(PushStrategy::websocket);
    cr_assert(subscribe(*b, r1, w) == PushError::none);
    cr_assert(subscribe(*b, r2, w) == PushError::none);
    const herald::push::PublishResult p = b->publish("chat", "hello", "text/plain");
    cr_expect(p.error == PushError::none && p.id == 1 && p.subscribers == 2);
    publish(*b);
    publish(*b);
    cr_expect(loop.queue.size() == 1, "one wake-up per burst, got %zu", loop.queue.size());
    loop.run();
    cr_expect(r1.ids == Ids({1, 2, 3}) && r2.ids == Ids({1, 2, 3}));
    cr_expect(r1.history.empty() && !r1.missed);
}

Test(broker, errors) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("chat")}));
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    Recorder r;
    cr_expect(b->publish("nope", "x", "").error == PushError::not_found);
    cr_expect(b->publish("bad/name", "x", "").error == PushError::invalid_name);
    cr_expect(b->publish("", "x", "").error == PushError::invalid_name);
    cr_expect(subscribe(*b, r, w, "nope") == PushError::not_found);
    cr_expect(subscribe(*b, r, w, "a b") == PushError::invalid_name);
    cr_expect(!r.sub);
    cr_expect(b->fetch("nope", std::nullopt, 1).error == PushError::not_found);
    cr_expect(b->channel_info("nope").error == PushError::not_found);
    cr_expect(b->close_channel("nope") == PushError::not_found);
    cr_expect(b->close_channel("<x>") == PushError::invalid_name);
    cr_expect(b->stats().published == 0);
}

Test(broker, autocreate_on_publish) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({}, true));
    cr_expect(publish(*b, "room.1") == 1);
    cr_expect(publish(*b, "room.1") == 2);
    const herald::push::InfoResult info = b->channel_info("room.1");
    cr_expect(info.error == PushError::none);
    cr_expect(info.info.conf.buffer == 2 && info.info.last_id == 2);
    cr_expect(b->stats().channels == 1);
}

// A message published (and queued to the worker) before B subscribed is in B's history; the
// queued live copy must not reach B again.
Test(broker, history_then_live_without_duplicates) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("chat")}));
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    Recorder early, late;
    subscribe(*b, early, w);
    publish(*b);
    publish(*b);
    subscribe(*b, late, w, "chat", 0);  // the drain for 1, 2 has not run yet
    cr_expect(late.history == Ids({1, 2}) && !late.missed);
    loop.run();
    cr_expect(early.ids == Ids({1, 2}));
    cr_expect(late.ids.empty(), "no duplicate of history, got %zu", late.ids.size());
    publish(*b);
    loop.run();
    cr_expect(early.ids == Ids({1, 2, 3}) && late.ids == Ids({3}));
}

Test(broker, resume_reports_missed) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("chat", 3)}));
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    for (int i = 0; i < 6; ++i) publish(*b);
    Recorder r, up_to_date, never;
    subscribe(*b, r, w, "chat", 1);
    cr_expect(r.history == Ids({4, 5, 6}) && r.missed);
    subscribe(*b, up_to_date, w, "chat", 6);
    cr_expect(up_to_date.history.empty() && !up_to_date.missed);
    subscribe(*b, never, w, "chat", 99);
    cr_expect(never.history == Ids({4, 5, 6}) && never.missed);
}

Test(broker, unsubscribe_and_subscribe_inside_deliver) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("chat")}));
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    Recorder first, second, third, newcomer;
    subscribe(*b, first, w);
    subscribe(*b, second, w);
    subscribe(*b, third, w);
    first.on_deliver = [&](Recorder& self, const Message&) {
        second.sub.reset();  // another subscriber, later in the same delivery loop
        self.sub.reset();    // itself, like a long-poll answering
        subscribe(*b, newcomer, w);
        self.on_deliver = nullptr;
    };
    publish(*b);
    loop.run();
    cr_expect(first.ids == Ids({1}) && second.ids.empty() && third.ids == Ids({1}));
    cr_expect(newcomer.ids.empty(), "joined after id 1");
    publish(*b);
    loop.run();
    cr_expect(first.ids == Ids({1}) && second.ids.empty());
    cr_expect(third.ids == Ids({1, 2}) && newcomer.ids == Ids({2}));
    cr_expect(b->channel_info("chat").info.total_subscribers == 2);
    third.sub.reset();
    newcomer.sub.reset();
    cr_expect(b->stats().subscribers[static_cast<std::size_t>(PushStrategy::sse)] == 0);
    cr_expect(b->channel_info("chat").info.total_subscribers == 0);
    publish(*b);
    cr_expect(loop.queue.empty(), "no worker has subscribers: nothing posted");
}

Test(broker, close_channel_after_pending_messages) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("chat")}));
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    Recorder a, c(PushStrategy::iframe);
    subscribe(*b, a, w);
    subscribe(*b, c, w);
    a.on_close = [](Recorder& self) { self.sub.reset(); };  // reset inside the callback
    publish(*b);
    cr_expect(b->close_channel("chat") == PushError::none);
    cr_expect(b->publish("chat", "x", "").error == PushError::not_found);
    cr_expect(subscribe(*b, *std::make_unique<Recorder>(), w) == PushError::not_found);
    loop.run();
    cr_expect(a.ids == Ids({1}) && c.ids == Ids({1}), "messages before the close arrive");
    cr_expect(a.closed == 1 && c.closed == 1);
    c.sub.reset();  // inert after close
    const herald::push::BrokerStats s = b->stats();
    cr_expect(s.channels == 0);
    for (std::uint64_t n : s.subscribers) cr_expect(n == 0);
}

Test(broker, max_subscribers) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("chat", 10, 1)}));
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    Recorder one, two;
    cr_expect(subscribe(*b, one, w) == PushError::none);
    cr_expect(subscribe(*b, two, w) == PushError::too_many_subscribers);
    cr_expect(!two.sub);
    one.sub.reset();
    cr_expect(subscribe(*b, two, w) == PushError::none);
}

Test(broker, reconcile_keeps_creates_and_closes) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("keep", 5), channel("gone")}, true));
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    for (int i = 0; i < 4; ++i) publish(*b, "keep");
    publish(*b, "auto");
    Recorder on_gone, on_keep;
    subscribe(*b, on_gone, w, "gone");
    subscribe(*b, on_keep, w, "keep");

    b->reconcile(config({channel("keep", 2), channel("new")}, true));
    loop.run();
    cr_expect(on_gone.closed == 1 && on_keep.closed == 0);
    cr_expect(b->channel_info("gone").error == PushError::not_found);
    cr_expect(b->channel_info("new").error == PushError::none);
    cr_expect(b->channel_info("auto").error == PushError::none, "autocreated kept");
    const herald::push::FetchResult f = b->fetch("keep", at(0), SIZE_MAX);
    cr_expect(f.history.messages.size() == 2 && f.history.first_id == 3 && f.history.missed);
    cr_expect(publish(*b, "keep") == 5, "ids survive reload");
    loop.run();
    cr_expect(on_keep.ids == Ids({5}), "live subscription survives reload");

    b->reconcile(config({channel("keep", 2)}, false));
    cr_expect(b->channel_info("auto").error == PushError::not_found, "autocreate turned off");
    cr_expect(b->publish("other", "x", "").error == PushError::not_found);
}

Test(broker, a_cursor_of_an_earlier_life_is_after_nothing) {
    using herald::push::Cursor;
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("c", 10)}, true));
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    const std::uint64_t first_life = b->publish("c", "o1", "").epoch;
    publish(*b, "c");
    publish(*b, "c");
    cr_assert(first_life != 0);
    cr_expect(b->channel_info("c").info.epoch == first_life);
    herald::push::FetchResult f = b->fetch("c", Cursor{first_life, 1, false}, SIZE_MAX);
    cr_expect(f.history.messages.size() == 2 && !f.history.missed, "same life: exact resume");

    auto check_new_life = [&](const char* what) {
        const std::uint64_t life = b->publish("c", "n1", "").epoch;
        cr_expect(life != 0 && life != first_life, "%s: a new life", what);
        f = b->fetch("c", Cursor{first_life, 1, false}, SIZE_MAX);
        cr_expect(f.history.messages.size() == 1 && f.history.missed && f.history.epoch == life,
                  "%s: fetch gives everything and missed", what);
        Recorder r;
        herald::push::SubscribeResult res = b->subscribe("c", Cursor{first_life, 0, false}, r, w);
        cr_expect(res.history.messages.size() == 1 && res.history.missed,
                  "%s: subscribe gives everything and missed", what);
        res = b->subscribe("c", Cursor{0, 0, true}, r, w);
        cr_expect(res.history.messages.size() == 1 && res.history.missed, "%s: foreign", what);
        res = b->subscribe("c", Cursor{life, 1, false}, r, w);
        cr_expect(res.history.messages.empty() && !res.history.missed, "%s: current", what);
    };
    // DELETE, then autocreated again by a publish.
    cr_expect(b->close_channel("c") == PushError::none);
    loop.run();
    check_new_life("re-created");
    // A reload that removes the channel and one that adds it back.
    b->reconcile(config({}, false));
    loop.run();
    b->reconcile(config({channel("c", 10)}, false));
    check_new_life("reloaded");
}

Test(broker, fetch_for_polling) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("chat")}));
    cr_expect(b->fetch("chat", std::nullopt, 1).history.messages.empty());
    publish(*b, "chat", "a");
    publish(*b, "chat", "b");
    herald::push::FetchResult f = b->fetch("chat", std::nullopt, 1);
    cr_expect(f.history.messages.size() == 1 && f.history.messages[0]->data == "b");
    f = b->fetch("chat", at(1), 1);
    cr_expect(f.history.messages.size() == 1 && f.history.messages[0]->id == 2);
    cr_expect(!f.history.missed);
    f = b->fetch("chat", at(2), 1);
    cr_expect(f.history.messages.empty() && f.history.last_id == 2);
}

Test(broker, stats_and_only_subscribed_workers_are_woken) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("chat"), channel("other")}));
    FakeLoop l0, l1;
    const WorkerId w0 = b->attach_worker(l0.poster());
    const WorkerId w1 = b->attach_worker(l1.poster());
    cr_expect(w0 == 0 && w1 == 1);
    Recorder a(PushStrategy::websocket), c(PushStrategy::long_polling);
    subscribe(*b, a, w0);
    subscribe(*b, c, w1, "other");
    publish(*b);
    publish(*b);
    cr_expect(l0.queue.size() == 1 && l1.queue.empty());
    l0.run();
    b->note_dropped(3);
    b->note_delivered(4);
    const herald::push::BrokerStats s = b->stats();
    cr_expect(s.published == 2 && s.delivered == 6 && s.dropped == 3 && s.channels == 2);
    cr_expect(s.subscribers[static_cast<std::size_t>(PushStrategy::websocket)] == 1);
    cr_expect(s.subscribers[static_cast<std::size_t>(PushStrategy::long_polling)] == 1);
    const herald::push::ChannelInfo info = b->channel_info("chat").info;
    cr_expect(info.last_id == 2 && info.buffered == 2 && info.total_subscribers == 1);
}

namespace {

constexpr int publishers = 4;
constexpr int per_publisher = 2000;
constexpr std::uint64_t total = publishers * per_publisher;

// Checks the delivery contract directly: history, then live ids, strictly consecutive.
struct Checker final : herald::push::Subscriber {
    Checker() : Subscriber(PushStrategy::websocket) {}
    std::uint64_t next = 1;
    int errors = 0;
    std::atomic<bool>* failed = nullptr;
    std::function<void()> on_done;
    Subscription sub;
    void take(std::uint64_t id) {
        if (id != next) {
            ++errors;
            failed->store(true);
        }
        next = id + 1;
        if (id == total) on_done();
    }
    void deliver(const std::shared_ptr<const Message>& m) noexcept override { take(m->id); }
    void on_channel_closed() noexcept override {}
    void on_channel_reset() noexcept override {
        ++errors;  // the memory broker never loses history
        failed->store(true);
    }
};

struct LoopThread {
    herald::EventLoop loop;
    std::thread thread;
    WorkerId id = 0;
    std::vector<std::unique_ptr<Checker>> checkers;
};

} // namespace

// 4 publisher threads, 2 worker loops; subscribers join before and during publishing (the
// late ones resume from 0 and get the start from history). Each must see 1..total once, in order.
Test(broker, cross_thread_every_id_once_in_order, .timeout = 10.0) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("chat", total)}));
    std::atomic<bool> failed{false};
    std::mutex m;
    std::condition_variable cv;
    int done = 0, subscribed = 0;
    std::vector<std::unique_ptr<LoopThread>> workers;
    for (int i = 0; i < 2; ++i) {
        workers.push_back(std::make_unique<LoopThread>());
        workers.back()->id = b->attach_worker(workers.back()->loop);
    }
    auto add_checker = [&](LoopThread& wt, std::optional<std::uint64_t> since) {
        wt.checkers.push_back(std::make_unique<Checker>());
        Checker* c = wt.checkers.back().get();
        c->failed = &failed;
        c->on_done = [&] {
            std::lock_guard<std::mutex> lock(m);
            ++done;
            cv.notify_all();
        };
        wt.loop.post([&, c, since, id = wt.id] {
            herald::push::SubscribeResult r = b->subscribe("chat", at(since), *c, id);
            cr_assert(r.error == PushError::none);
            for (const auto& msg : r.history.messages) c->take(msg->id);
            c->sub = std::move(r.subscription);
            std::lock_guard<std::mutex> lock(m);
            ++subscribed;
            cv.notify_all();
        });
    };
    for (auto& wt : workers)
        for (int i = 0; i < 3; ++i) add_checker(*wt, std::nullopt);
    for (auto& wt : workers) wt->thread = std::thread([&loop = wt->loop] { loop.run(); });
    {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return subscribed == 6; });
    }
    std::vector<std::thread> pubs;
    for (int p = 0; p < publishers; ++p)
        pubs.emplace_back([&] {
            for (int i = 0; i < per_publisher; ++i) b->publish("chat", "payload", "text/plain");
        });
    for (int k = 1; k <= 6; ++k) {  // late joiners spread over the run
        while (b->stats().published < total * k / 8) std::this_thread::yield();
        add_checker(*workers[k % 2], 0);
    }
    for (std::thread& t : pubs) t.join();
    {
        std::unique_lock<std::mutex> lock(m);
        cr_assert(cv.wait_for(lock, std::chrono::seconds(20), [&] { return done == 12; }),
                  "only %d of 12 subscribers got every message", done);
    }
    for (auto& wt : workers)
        wt->loop.post([&wt = *wt] {
            for (auto& c : wt.checkers) c->sub.reset();
            wt.loop.stop();
        });
    for (auto& wt : workers) wt->thread.join();
    cr_expect(!failed.load(), "a subscriber saw a gap, duplicate or reordering");
    for (auto& wt : workers)
        for (auto& c : wt->checkers) cr_expect(c->errors == 0 && c->next == total + 1);
    const herald::push::BrokerStats s = b->stats();
    cr_expect(s.published == total);
    cr_expect(s.subscribers[static_cast<std::size_t>(PushStrategy::websocket)] == 0);
}

Test(broker, per_channel_figures) {
    herald::ManualClock clock;
    auto b = herald::push::make_memory_broker(clock);
    b->reconcile(config({channel("chat"), channel("other")}));
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    Recorder r1, r2(PushStrategy::websocket), r3;
    subscribe(*b, r1, w);
    subscribe(*b, r2, w);
    subscribe(*b, r3, w, "other");
    const auto before = std::chrono::system_clock::now();
    publish(*b);
    publish(*b);
    publish(*b, "other");
    loop.run();
    b->note_delivered(5, "chat");  // history or polling answers, counted by the strategy
    b->note_dropped(1, "chat");
    b->note_dropped(2);            // no channel: only the global counter
    b->note_dropped(1, "nosuch");  // an unknown channel is ignored
    const herald::push::ChannelInfo chat = b->channel_info("chat").info;
    cr_expect_eq(chat.published, 2u);
    cr_expect_eq(chat.delivered, 2u * 2 + 5);
    cr_expect_eq(chat.dropped, 1u);
    cr_expect(chat.last_publish >= before && chat.last_publish <= std::chrono::system_clock::now());
    cr_expect_eq(b->channel_info("other").info.delivered, 1u);
    cr_expect_eq(b->channel_info("other").info.dropped, 0u);
    cr_expect_eq(b->stats().dropped, 4u);
    const herald::push::ChannelInfo idle = [&] {
        b->reconcile(config({channel("chat"), channel("other"), channel("idle")}));
        return b->channel_info("idle").info;
    }();
    cr_expect(idle.last_publish == std::chrono::system_clock::time_point{} &&
              idle.publish_rate == 0);
}

Test(broker, publish_rate_is_a_decaying_average) {
    herald::ManualClock clock;
    auto b = herald::push::make_memory_broker(clock);
    b->reconcile(config({channel("chat")}));
    // 10 messages a second for a minute (six time constants): the rate converges to 10/s.
    for (int i = 0; i < 600; ++i) {
        publish(*b);
        clock.advance(std::chrono::milliseconds(100));
    }
    double r = b->channel_info("chat").info.publish_rate;
    cr_expect(r > 9.4 && r < 10.6, "steady rate %f", r);
    // Silence for one time constant: 1/e of it is left.
    clock.advance(herald::push::publish_rate_window);
    const double faded = b->channel_info("chat").info.publish_rate;
    cr_expect(faded > r / 2.718281828 * 0.99 && faded < r / 2.718281828 * 1.01, "faded %f", faded);
}

Test(broker, top_channels_rank_by_subscribers_and_by_publish_rate) {
    herald::ManualClock clock;
    auto b = herald::push::make_memory_broker(clock);
    b->reconcile(config({channel("a"), channel("b"), channel("c"), channel("d")}));
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    Recorder subs[6];
    int k = 0;
    for (const auto& [name, n] : {std::pair{"b", 3}, std::pair{"c", 2}, std::pair{"a", 1}})
        for (int i = 0; i < n; ++i) subscribe(*b, subs[k++], w, name);
    for (int i = 0; i < 5; ++i) publish(*b, "d");
    for (int i = 0; i < 2; ++i) publish(*b, "a");
    loop.run();
    const herald::push::TopChannels t = b->top_channels(2);
    cr_assert_eq(t.by_subscribers.size(), 2u);
    cr_expect(t.by_subscribers[0].name == "b" && t.by_subscribers[1].name == "c");
    cr_assert_eq(t.by_publish_rate.size(), 2u);
    cr_expect(t.by_publish_rate[0].name == "d" && t.by_publish_rate[1].name == "a");
    cr_expect_eq(t.by_publish_rate[0].published, 5u);
    // Fewer channels than asked for: all of them; ties ordered by name.
    const herald::push::TopChannels all = b->top_channels(10);
    cr_expect_eq(all.by_subscribers.size(), 4u);
    cr_expect(all.by_publish_rate[2].name == "b" && all.by_publish_rate[3].name == "c");
    cr_expect(b->top_channels(0).by_subscribers.empty());
}

// With channel_autocreate a subscriber (or a poll) may create the channel, unless
// channel_autocreate_on_subscribe is off; the subscriber then gets what is published next.
Test(broker, subscribers_create_channels_unless_told_not_to) {
    auto b = herald::push::make_memory_broker();
    Config cfg = config({}, true);
    b->reconcile(cfg);
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());
    Recorder r;
    cr_assert(subscribe(*b, r, w, "user.1") == PushError::none);
    cr_expect(b->stats().channels == 1);
    cr_expect(publish(*b, "user.1") == 1);
    loop.run();
    cr_expect(r.ids == Ids({1}));
    const herald::push::FetchResult f = b->fetch("user.2", std::nullopt, 1);
    cr_expect(f.error == PushError::none && f.history.messages.empty());
    cr_expect(b->stats().channels == 2);

    cfg.autocreate_on_subscribe = false;
    b->reconcile(cfg);
    Recorder r2;
    cr_expect(subscribe(*b, r2, w, "user.3") == PushError::not_found);
    cr_expect(b->fetch("user.3", std::nullopt, 1).error == PushError::not_found);
    cr_expect(subscribe(*b, r2, w, "user.1") == PushError::none);  // existing ones still open
    cr_expect(publish(*b, "user.3") == 1);                          // publishers still create
    cfg.channel_autocreate = false;
    cfg.autocreate_on_subscribe = true;
    b->reconcile(cfg);  // closes the autocreated channels
    Recorder r3;
    cr_expect(subscribe(*b, r3, w, "user.4") == PushError::not_found);
    loop.run();
}

// An autocreated channel with no subscriber (nor poll) for channel_idle_timeout
// and no message younger than its ttl is collected; declared channels never are; a channel
// collected and made again is a new life (an old cursor gets the missed signal).
Test(broker, idle_autocreated_channels_are_collected) {
    using std::chrono::seconds;
    herald::ManualClock clock;
    auto b = herald::push::make_memory_broker(clock);
    Config cfg = config({channel("declared")}, true);
    cfg.channel_idle_timeout = seconds(60);
    b->reconcile(cfg);
    FakeLoop loop;
    const WorkerId w = b->attach_worker(loop.poster());

    publish(*b, "published");               // no subscriber ever
    Recorder held;
    cr_assert(subscribe(*b, held, w, "held") == PushError::none);
    b->fetch("polled", std::nullopt, 1);     // made by a poll
    cr_expect(b->stats().channels == 4);
    clock.advance(seconds(59));
    cr_expect(b->collect_idle() == 0);
    b->fetch("polled", std::nullopt, 1);     // a poll is a visit
    clock.advance(seconds(1));
    cr_expect(b->collect_idle() == 1);       // "published"
    cr_expect(b->channel_info("published").error == PushError::not_found);
    clock.advance(seconds(59));
    cr_expect(b->collect_idle() == 1);       // "polled"; "held" has its subscriber
    clock.advance(seconds(600));
    cr_expect(b->collect_idle() == 0);
    const std::uint64_t held_epoch = b->channel_info("held").info.epoch;
    publish(*b, "held");
    held.sub.reset();                        // idle from now
    loop.run();
    clock.advance(seconds(59));
    cr_expect(b->collect_idle() == 0);
    clock.advance(seconds(1));
    cr_expect(b->collect_idle() == 1);
    cr_expect(b->stats().channels == 1);     // the declared one
    // The next subscriber makes a new life: its old cursor is from another life.
    herald::push::SubscribeResult again =
        b->subscribe("held", herald::push::Cursor{held_epoch, 1, false}, held, w);
    cr_expect(again.error == PushError::none && again.history.missed);
    cr_expect(b->channel_info("held").info.epoch != held_epoch);
    again.subscription.reset();
    loop.run();

    // With a ttl, the channel stays while it holds a message younger than the ttl.
    cfg.autocreate_defaults.ttl = seconds(300);
    b->reconcile(cfg);
    publish(*b, "kept");
    clock.advance(seconds(120));
    cr_expect(b->channel_info("kept").info.buffered == 1);
    cr_expect(b->collect_idle() == 1);       // only "held" (idle 120 s, nothing buffered)
    clock.advance(seconds(179));
    cr_expect(b->collect_idle() == 0);
    clock.advance(seconds(1));
    cr_expect(b->collect_idle() == 1);       // its message expired
    cfg.channel_idle_timeout = seconds(0);   // 0: never
    b->reconcile(cfg);
    publish(*b, "forever");
    clock.advance(seconds(100'000));
    cr_expect(b->collect_idle() == 0);
}

// Back-pressure (publish_backlog): while a worker with subscribers of the channel has that
// many messages waiting for fan-out, publishing to the channel stores nothing and says
// backlog; channels whose subscribers are elsewhere are not held back; once the worker
// drains, publishing goes on with the next id.
Test(broker, publish_backlog_refuses_until_the_worker_drains) {
    auto b = herald::push::make_memory_broker();
    Config cfg = config({channel("slow"), channel("other")});
    cfg.publish_backlog = 3;
    b->reconcile(cfg);
    FakeLoop busy, idle;
    const WorkerId w0 = b->attach_worker(busy.poster());
    const WorkerId w1 = b->attach_worker(idle.poster());
    Recorder r0, r1;
    cr_assert(subscribe(*b, r0, w0, "slow") == PushError::none);
    cr_assert(subscribe(*b, r1, w1, "other") == PushError::none);
    cr_expect(publish(*b, "slow") == 1);
    cr_expect(publish(*b, "slow") == 2);
    cr_expect(publish(*b, "slow") == 3);
    const herald::push::PublishResult refused = b->publish("slow", "x", "text/plain");
    cr_expect(refused.error == PushError::backlog, "%s", to_string(refused.error));
    cr_expect(b->channel_info("slow").info.last_id == 3, "nothing stored");
    cr_expect(publish(*b, "other") == 1);   // w1 is not behind
    cr_expect(publish(*b, "other") == 2);
    idle.run();
    cr_expect(publish(*b, "other") == 3);
    cr_expect(publish(*b, "other") == 4);
    idle.run();
    busy.run();                             // w0 drains its three
    cr_expect(r0.ids == Ids({1, 2, 3}));
    cr_expect(publish(*b, "slow") == 4);
    busy.run();
    cr_expect(r0.ids == Ids({1, 2, 3, 4}) && r1.ids == Ids({1, 2, 3, 4}));
    cfg.publish_backlog = 0;                // off
    b->reconcile(cfg);
    for (int i = 0; i < 10; ++i) publish(*b, "slow");
    busy.run();
    cr_expect(r0.ids.size() == 14);
}

// A binary upgrade's hand-over: once paused, publishes and DELETEs answer unavailable and store
// nothing, so the snapshot is the channels' last state; resuming (a failed upgrade) publishes
// again from the same ids.
Test(broker, paused_publishing_and_the_snapshot) {
    auto b = herald::push::make_memory_broker();
    herald::config::ChannelConf small = channel("small", 2);
    b->reconcile(config({channel("chat"), small, channel("quiet")}));
    publish(*b, "chat", "one");
    publish(*b, "chat", "two");
    for (int i = 0; i < 5; ++i) publish(*b, "small");
    b->pause_publishing(true);
    const herald::push::PublishResult refused = b->publish("chat", "three", "text/plain");
    cr_expect(refused.error == PushError::unavailable && refused.id == 0);
    cr_expect(b->close_channel("chat") == PushError::unavailable);
    const std::vector<std::string> both{"chat", "quiet"};
    cr_expect(b->publish_many(both, "x", "text/plain", {}).error == PushError::unavailable);
    std::vector<herald::push::ChannelSnapshot> snap = b->snapshot();
    std::sort(snap.begin(), snap.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
    cr_assert_eq(snap.size(), 3U);
    cr_expect(snap[0].name == "chat" && snap[0].last_id == 2 && snap[0].messages.size() == 2);
    cr_expect(snap[0].messages[0]->data == "one" && snap[0].messages[1]->id == 2);
    cr_expect(snap[0].epoch == snap[0].messages[0]->epoch && snap[0].epoch != 0);
    cr_expect(snap[1].name == "quiet" && snap[1].last_id == 0 && snap[1].messages.empty());
    cr_expect(snap[2].name == "small" && snap[2].last_id == 5 && snap[2].messages.size() == 2 &&
              snap[2].messages[0]->id == 4);
    b->pause_publishing(false);
    cr_expect_eq(publish(*b, "chat", "three"), 3U);
    cr_expect(b->close_channel("chat") == PushError::none);
}

// The new process adopts a snapshot: the life and ids continue, a resume from the old process's
// id misses nothing.
Test(broker, a_snapshot_adopted_continues_the_life) {
    auto old_side = herald::push::make_memory_broker();
    old_side->reconcile(config({channel("chat")}));
    for (int i = 0; i < 4; ++i) publish(*old_side, "chat");
    old_side->pause_publishing(true);
    const herald::push::ChannelSnapshot s = old_side->snapshot().front();
    std::vector<std::shared_ptr<Message>> copy;
    for (const auto& m : s.messages) {
        auto c = std::make_shared<Message>(m->channel, m->data, m->content_type, m->event);
        c->id = m->id;
        c->epoch = m->epoch;
        copy.push_back(std::move(c));
    }
    auto new_side = herald::push::make_memory_broker();
    new_side->reconcile(config({channel("chat")}));
    cr_assert(new_side->adopt(s.name, s.epoch, s.last_id, copy) == PushError::none);
    FakeLoop loop;
    const WorkerId w = new_side->attach_worker(loop.poster());
    Recorder r;
    herald::push::SubscribeResult res =
        new_side->subscribe("chat", herald::push::Cursor{s.epoch, 2, false}, r, w);
    cr_assert(res.error == PushError::none && !res.history.missed);
    cr_assert_eq(res.history.messages.size(), 2U);
    cr_expect(res.history.messages[0]->id == 3 && res.history.messages[1]->id == 4);
    const herald::push::PublishResult p = new_side->publish("chat", "next", "text/plain");
    cr_expect(p.id == 5 && p.epoch == s.epoch);
}

namespace {
using Names = std::vector<std::string>;
}

// A channel list: one message to every channel, each with its own id, in list order, fanned
// out to each channel's subscribers on their workers (once each), with the same data, type
// and event name everywhere.
Test(broker, publish_many_reaches_every_channel_once) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("a"), channel("b"), channel("c")}));
    FakeLoop l0, l1;
    const WorkerId w0 = b->attach_worker(l0.poster());
    const WorkerId w1 = b->attach_worker(l1.poster());
    Recorder ra, rc1, rc2;
    std::vector<std::string> seen;
    rc1.on_deliver = [&seen](Recorder&, const Message& m) {
        seen.push_back(m.channel + " " + m.data + " " + m.content_type + " " + m.event);
    };
    cr_assert(subscribe(*b, ra, w0, "a") == PushError::none);
    cr_assert(subscribe(*b, rc1, w0, "c") == PushError::none);
    cr_assert(subscribe(*b, rc2, w1, "c") == PushError::none);
    publish(*b, "a");  // a's next id is 2
    const Names list{"b", "a", "c"};
    const herald::push::MultiPublishResult r = b->publish_many(list, "hi", "text/csv", "tick");
    cr_assert(r.error == PushError::none, "%s", to_string(r.error));
    cr_assert_eq(r.results.size(), 3u);
    cr_expect(r.results[0].id == 1 && r.results[0].subscribers == 0);
    cr_expect(r.results[1].id == 2 && r.results[1].subscribers == 1);
    cr_expect(r.results[2].id == 1 && r.results[2].subscribers == 2);
    cr_expect(r.results[1].epoch == b->channel_info("a").info.epoch);
    cr_expect(l0.queue.size() == 1 && l1.queue.size() == 1, "one wake-up per worker");
    l0.run();
    l1.run();
    cr_expect(ra.ids == Ids({1, 2}) && rc1.ids == Ids({1}) && rc2.ids == Ids({1}));
    cr_expect(seen == std::vector<std::string>({"c hi text/csv tick"}));
    cr_expect(b->channel_info("b").info.last_id == 1);
    cr_expect(b->stats().published == 4);
}

// All or none: the first channel that is refused (invalid or repeated name, unknown without
// autocreate, past max_channels, a worker past publish_backlog) refuses the whole list, names
// its index, and nothing is stored anywhere, nor any channel made.
Test(broker, publish_many_is_all_or_none) {
    auto b = herald::push::make_memory_broker();
    Config cfg = config({channel("a"), channel("b")});
    b->reconcile(cfg);
    FakeLoop busy;
    const WorkerId w = b->attach_worker(busy.poster());
    const auto refused = [&b](const Names& list, PushError want, std::size_t at) {
        const herald::push::MultiPublishResult r = b->publish_many(list, "x", "text/plain", "");
        cr_expect(r.error == want && r.refused == at && r.results.empty(), "%s: %s at %zu",
                  list.back().c_str(), to_string(r.error), r.refused);
    };
    refused({"a", "nope", "b"}, PushError::not_found, 1);
    refused({"a", "b", "a"}, PushError::invalid_name, 2);
    refused({"a", "b c"}, PushError::invalid_name, 1);
    cr_expect(b->channel_info("a").info.last_id == 0 && b->channel_info("b").info.last_id == 0);

    cfg.channel_autocreate = true;
    cfg.max_channels = 4;  // a, b and room for two
    b->reconcile(cfg);
    refused({"x", "a", "y", "z"}, PushError::too_many_channels, 3);
    cr_expect(b->stats().channels == 2, "channels made for the refused list went again");
    cr_expect(b->channel_info("x").error == PushError::not_found);

    cfg.publish_backlog = 2;
    b->reconcile(cfg);
    Recorder rb;
    cr_assert(subscribe(*b, rb, w, "b") == PushError::none);
    publish(*b, "b");
    publish(*b, "b");  // w holds two undelivered messages: b is held back
    refused({"x", "a", "b"}, PushError::backlog, 2);
    cr_expect(b->stats().channels == 2 && b->channel_info("a").info.last_id == 0);
    busy.run();
    const herald::push::MultiPublishResult ok =
        b->publish_many(Names{"x", "a", "b"}, "x", "text/plain", "");
    cr_assert(ok.error == PushError::none, "%s", to_string(ok.error));
    cr_expect(ok.results[0].id == 1 && ok.results[1].id == 1 && ok.results[2].id == 3);
    busy.run();
    cr_expect(rb.ids == Ids({1, 2, 3}));
    cr_expect(b->stats().channels == 3);
}

// Lists over the same channels in opposite orders, from several threads at once, with single
// publishes in between and a channel autocreated on the way: nothing deadlocks (the test would time
// out), every message is stored once, and each channel's ids stay contiguous.
Test(broker, publish_many_in_opposite_orders_never_deadlocks, .timeout = 30.0) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(config({channel("a"), channel("b"), channel("c")}, true));
    constexpr int rounds = 3000;
    std::atomic<int> failures{0};
    const auto run = [&](Names list) {
        for (int i = 0; i < rounds; ++i) {
            if (b->publish_many(list, "x", "text/plain", "").error != PushError::none) ++failures;
            if (i % 16 == 0 && b->publish(list[1], "y", "text/plain").error != PushError::none)
                ++failures;
        }
    };
    std::thread t1(run, Names{"a", "b", "c"});
    std::thread t2(run, Names{"c", "b", "a"});
    std::thread t3(run, Names{"b", "a", "c"});
    std::thread t4(run, Names{"new", "c"});  // autocreates once: the exclusive map lock
    t1.join();
    t2.join();
    t3.join();
    t4.join();
    cr_expect(failures == 0);
    const std::uint64_t singles = (rounds + 15) / 16;
    cr_expect_eq(b->channel_info("a").info.last_id, 3u * rounds + singles);
    cr_expect_eq(b->channel_info("b").info.last_id, 3u * rounds + 2 * singles);
    cr_expect_eq(b->channel_info("c").info.last_id, 4u * rounds + singles);
    cr_expect_eq(b->channel_info("new").info.last_id, std::uint64_t(rounds));
}
