// Unit tests: the LocalBroker as a node copy of channels kept elsewhere (the Redis broker):
// may_have(), adopt() (continuous when the copy can be completed, a new life otherwise, whose
// old subscribers are told to reset), append_at() (only the next id of the life), forget() and
// forget_idle(), and the publish time of messages read from history.
#include <criterion/criterion.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "push/broker.hpp"
#include "support/fake_loop.hpp"

using herald::config::Config;
using herald::config::PushStrategy;
using herald::push::LocalBroker;
using herald::push::Message;
using herald::push::PushError;
using herald::push::Subscription;

namespace {

using herald::test::FakeLoop;

struct Sub final : herald::push::Subscriber {
    Sub() : Subscriber(PushStrategy::sse) {}
    std::vector<std::uint64_t> ids;
    int closed = 0, resets = 0;
    Subscription sub;
    void deliver(const std::shared_ptr<const Message>& m) noexcept override {
        ids.push_back(m->id);
    }
    void on_channel_closed() noexcept override { ++closed; }
    void on_channel_reset() noexcept override { ++resets; }
};

constexpr std::uint64_t E1 = 0xabc, E2 = 0xdef;

std::shared_ptr<Message> msg(std::uint64_t id, std::uint64_t epoch = E1,
                             const char* channel = "news") {
    auto m = std::make_shared<Message>(channel, "m" + std::to_string(id), "text/plain");
    m->id = id;
    m->epoch = epoch;
    return m;
}

std::vector<std::shared_ptr<Message>> msgs(std::uint64_t first, std::uint64_t last,
                                           std::uint64_t epoch = E1) {
    std::vector<std::shared_ptr<Message>> v;
    for (std::uint64_t i = first; i <= last; ++i) v.push_back(msg(i, epoch));
    return v;
}

Config autocreate_config() {
    Config cfg;
    cfg.channel_autocreate = true;
    cfg.autocreate_defaults.buffer = 5;
    return cfg;
}

std::vector<std::uint64_t> history(LocalBroker& b, std::uint64_t since) {
    std::vector<std::uint64_t> out;
    for (const auto& m : b.fetch("news", herald::push::Cursor{E1, since, false}, 100).history.messages)
        out.push_back(m->id);
    return out;
}

} // namespace

Test(push_mirror, may_have_follows_autocreate_and_names) {
    auto b = herald::push::make_memory_broker();
    Config cfg;
    cfg.channels.push_back({});
    cfg.channels.back().name = "declared";
    b->reconcile(cfg);
    cr_assert_eq(b->may_have("declared", true), PushError::none);
    cr_assert_eq(b->may_have("other", false), PushError::not_found);
    cr_assert_eq(b->may_have("bad name", false), PushError::invalid_name);
    cfg.channel_autocreate = true;
    cfg.autocreate_on_subscribe = false;
    b->reconcile(cfg);
    cr_assert_eq(b->may_have("other", false), PushError::none);
    cr_assert_eq(b->may_have("other", true), PushError::not_found);
}

Test(push_mirror, adopt_seeds_then_appends_in_order_only) {
    auto b = herald::push::make_memory_broker();
    FakeLoop loop;
    const auto w = b->attach_worker(loop.poster());
    b->reconcile(autocreate_config());
    cr_assert_eq(b->adopt("news", E1, 7, msgs(5, 7)), PushError::none);
    const auto info = b->channel_info("news").info;
    cr_assert_eq(info.epoch, E1);
    cr_assert_eq(info.first_id, 5u);
    cr_assert_eq(info.last_id, 7u);
    // Its figures are the life's, as the channel's own: 7 messages published, 3 of them held.
    cr_assert_eq(info.published, 7u);
    cr_assert_eq(info.buffered, 3u);

    Sub s;
    auto r = b->subscribe("news", herald::push::Cursor{E1, 6, false}, s, w);
    cr_assert_eq(r.error, PushError::none);
    cr_assert_eq(r.history.messages.size(), 1u);
    cr_assert_eq(r.history.messages[0]->id, 7u);
    cr_assert(!r.history.missed);
    s.sub = std::move(r.subscription);

    cr_assert(!b->append_at(msg(9)), "a gap is refused");
    cr_assert(!b->append_at(msg(7)), "an id already held is refused");
    cr_assert(!b->append_at(msg(8, E2)), "another life's message is refused");
    cr_assert(b->append_at(msg(8)));
    loop.run();
    cr_assert_eq(s.ids, (std::vector<std::uint64_t>{8}));
    cr_assert_eq(history(*b, 4), (std::vector<std::uint64_t>{5, 6, 7, 8}));
}

Test(push_mirror, adopt_completes_a_copy_that_fell_behind) {
    auto b = herald::push::make_memory_broker();
    FakeLoop loop;
    const auto w = b->attach_worker(loop.poster());
    b->reconcile(autocreate_config());
    cr_assert_eq(b->adopt("news", E1, 3, msgs(1, 3)), PushError::none);
    Sub s;
    auto r = b->subscribe("news", herald::push::Cursor{E1, 3, false}, s, w);
    s.sub = std::move(r.subscription);
    // The copy missed 4..6 (a lost link); the store still has 2..6: the copy is completed and
    // the subscriber gets exactly 4, 5, 6, no reset.
    cr_assert_eq(b->adopt("news", E1, 6, msgs(2, 6)), PushError::none);
    loop.run();
    cr_assert_eq(s.ids, (std::vector<std::uint64_t>{4, 5, 6}));
    cr_assert_eq(s.resets, 0);
    // Adopting what it already has changes nothing.
    cr_assert_eq(b->adopt("news", E1, 6, msgs(2, 6)), PushError::none);
    loop.run();
    cr_assert_eq(s.ids.size(), 3u);
    cr_assert(s.sub);
}

Test(push_mirror, adopt_resets_on_a_gap_or_another_life) {
    auto b = herald::push::make_memory_broker();
    FakeLoop loop;
    const auto w = b->attach_worker(loop.poster());
    b->reconcile(autocreate_config());
    cr_assert_eq(b->adopt("news", E1, 3, msgs(1, 3)), PushError::none);
    Sub gap, life;
    gap.sub = b->subscribe("news", herald::push::Cursor{E1, 3, false}, gap, w).subscription;
    // The store trimmed 4 before this copy could read it: the subscriber must reconnect.
    cr_assert_eq(b->adopt("news", E1, 9, msgs(5, 9)), PushError::none);
    loop.run();
    cr_assert_eq(gap.resets, 1);
    cr_assert(gap.ids.empty());
    cr_assert_eq(b->channel_info("news").info.first_id, 5u);
    // Reconnecting with its last id, it gets what is there and the missed signal.
    auto again = b->fetch("news", herald::push::Cursor{E1, 3, false}, 100);
    cr_assert(again.history.missed);
    cr_assert_eq(again.history.messages.front()->id, 5u);

    life.sub = b->subscribe("news", herald::push::Cursor{E1, 9, false}, life, w).subscription;
    // The store lost its data: a new epoch, ids from 1.
    cr_assert_eq(b->adopt("news", E2, 1, {msg(1, E2)}), PushError::none);
    loop.run();
    cr_assert_eq(life.resets, 1);
    cr_assert_eq(b->channel_info("news").info.epoch, E2);
    auto old = b->fetch("news", herald::push::Cursor{E1, 9, false}, 100);
    cr_assert(old.history.missed, "a cursor of the old life is after nothing");
}

Test(push_mirror, adopt_with_nothing_buffered_starts_after_the_last_id) {
    auto b = herald::push::make_memory_broker();
    b->reconcile(autocreate_config());
    cr_assert_eq(b->adopt("news", E1, 41, {}), PushError::none);
    cr_assert_eq(b->channel_info("news").info.last_id, 41u);
    cr_assert(b->append_at(msg(42)));
    cr_assert_eq(b->channel_info("news").info.last_id, 42u);
}

Test(push_mirror, forget_removes_only_unused_autocreated_channels) {
    auto b = herald::push::make_memory_broker();
    FakeLoop loop;
    const auto w = b->attach_worker(loop.poster());
    Config cfg = autocreate_config();
    cfg.channels.push_back({});
    cfg.channels.back().name = "declared";
    b->reconcile(cfg);
    cr_assert(!b->forget("declared"));
    cr_assert(!b->forget("absent"));
    cr_assert_eq(b->adopt("news", E1, 1, msgs(1, 1)), PushError::none);
    Sub s;
    s.sub = b->subscribe("news", herald::push::Cursor{E1, 1, false}, s, w).subscription;
    cr_assert(!b->forget("news"), "it has a subscriber");
    s.sub.reset();
    cr_assert(b->forget("news"));
    cr_assert_eq(b->channel_info("news").error, PushError::not_found);
}

// collect_idle() for a node copy, one channel at a time (the Redis broker's): only an
// autocreated channel that Channel::idle() calls idle goes.
Test(push_mirror, forget_idle_removes_only_idle_autocreated_channels) {
    herald::ManualClock clock;
    auto b = herald::push::make_memory_broker(clock);
    FakeLoop loop;
    const auto w = b->attach_worker(loop.poster());
    Config cfg = autocreate_config();
    cfg.channels.push_back({});
    cfg.channels.back().name = "declared";
    b->reconcile(cfg);
    const herald::Duration idle(1000);
    clock.advance(std::chrono::seconds(5));
    cr_assert(!b->forget_idle("declared", idle));
    cr_assert(!b->forget_idle("absent", idle));
    cr_assert_eq(b->adopt("news", E1, 1, msgs(1, 1)), PushError::none);
    Sub s;
    s.sub = b->subscribe("news", std::nullopt, s, w).subscription;
    clock.advance(std::chrono::seconds(5));
    cr_assert(!b->forget_idle("news", idle), "it has a subscriber");
    s.sub.reset();
    clock.advance(std::chrono::milliseconds(999));
    cr_assert(!b->forget_idle("news", idle), "its subscriber left 999 ms ago");
    clock.advance(std::chrono::milliseconds(1));
    cr_assert(b->forget_idle("news", idle));
    cr_assert_eq(b->channel_info("news").error, PushError::not_found);
}

// A message read from history comes with its publish time: the copy keeps it, so ttl counts
// from the publish, not from the read.
Test(push_mirror, adopted_messages_keep_their_age_for_ttl) {
    herald::ManualClock clock;
    auto b = herald::push::make_memory_broker(clock);
    Config cfg = autocreate_config();
    cfg.autocreate_defaults.ttl = herald::Duration(10'000);
    b->reconcile(cfg);
    std::vector<std::shared_ptr<Message>> read = msgs(1, 2);
    read[0]->published_steady = clock.now() - std::chrono::seconds(8);
    read[1]->published_steady = clock.now() - std::chrono::seconds(1);
    cr_assert_eq(b->adopt("news", E1, 2, read), PushError::none);
    cr_assert(history(*b, 0) == (std::vector<std::uint64_t>{1, 2}));
    clock.advance(std::chrono::seconds(2));
    cr_assert(history(*b, 0) == (std::vector<std::uint64_t>{2}), "1 was 10 s old");
    cr_assert(b->append_at(msg(3)));  // live: its time is the copy's now
    clock.advance(std::chrono::seconds(7));
    cr_assert(history(*b, 0) == (std::vector<std::uint64_t>{3}));
}
