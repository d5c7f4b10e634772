// The Redis broker (push/redis_broker.hpp).
//
// Threads: every Redis conversation happens on the home loop. A worker's request is posted
// there; the answer is posted back to the worker, which runs `done` unless the BrokerCall was
// cancelled meanwhile (the cancel flag is only touched on the worker's thread).
//
// A channel this node serves is "mirrored": the pub/sub link is subscribed to its topic and
// the node copy (a LocalBroker channel of the same epoch and ids) is in sync with Redis. To
// start (or after the link was lost, or when a message's id does not follow the copy's), the
// node reads the channel atomically (sync script: epoch, newest id, newest messages) after the
// subscription is confirmed, and hands that to LocalBroker::adopt(): continuous when the copy
// can be completed, otherwise a new life whose old subscribers are told to reconnect.
// Messages that arrive while a read is under way are held and applied after it, in order, the
// ones the read already had dropped; so nothing falls between the read and the live stream and
// nothing is delivered twice.
//
// Time bounds match the memory broker's: a read leaves out messages older than ttl and ages
// the rest by Redis's clock (the copy drops them at their ttl); an autocreated channel's keys
// expire channel_idle_timeout after its last use (redis/script.hpp), each node holding the
// ones its clients use (touch script, from the sweep and on a visit), and a node's idle copy
// goes at collect_idle().
#include "push/redis_broker.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <iterator>
#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

#include "config/values.hpp"
#include "core/ascii.hpp"
#include "core/log.hpp"
#include "core/string_hash.hpp"
#include "push/resume.hpp"
#include "redis/cluster_client.hpp"
#include "redis/script.hpp"

namespace herald::push {
namespace {

using namespace std::chrono_literals;

// How often the home loop looks for lingering mirrors, overdue waiters and copies to retry.
constexpr Clock::duration sweep_every = 1s;
// Pub/sub messages kept for a channel while its read is under way; past it they are dropped
// and the channel is read once more after (the read has them).
constexpr std::size_t max_held = 10'000;

// A pub/sub payload: "close", or "EPOCH\nID\nTYPE\nEVENT\nDATA".
struct Wire {
    bool close = false;
    std::uint64_t epoch = 0;
    std::uint64_t id = 0;
    std::string type, event, data;
};

bool parse_wire(std::string_view p, Wire& w) {
    if (p == "close") {
        w.close = true;
        return true;
    }
    std::string_view part[4];
    for (std::string_view& f : part) {
        const std::size_t nl = p.find('\n');
        if (nl == std::string_view::npos) return false;
        f = p.substr(0, nl);
        p.remove_prefix(nl + 1);
    }
    if (!parse_epoch(part[0], w.epoch) || !ascii::parse_decimal(part[1], UINT64_MAX, w.id) ||
        w.id == 0)
        return false;
    w.type.assign(part[2]);
    w.event.assign(part[3]);
    w.data.assign(p);
    return true;
}

std::shared_ptr<Message> to_message(std::string_view channel, Wire&& w) {
    auto m = std::make_shared<Message>(std::string(channel), std::move(w.data), std::move(w.type),
                                       std::move(w.event));
    m->id = w.id;
    m->epoch = w.epoch;
    return m;
}

// The configured servers (link.host:port when none is listed) with the link settings.
redis::ClusterOptions cluster_options(const RedisBrokerOptions& o) {
    redis::ClusterOptions c;
    c.seeds = o.servers;
    if (c.seeds.empty()) c.seeds.push_back(redis::NodeAddress{o.link.host, o.link.port});
    c.link = o.link;
    return c;
}

// Milliseconds for the scripts' ttl and life arguments (0 = none).
std::string ms_text(Duration d) {
    return std::to_string(std::max<Duration::rep>(d.count(), 0));
}

// How often a node holds the Redis life of an autocreated channel its clients use (the touch
// script): a quarter of channel_idle_timeout, within [1 s (the sweep), 30 s], as the memory
// broker's collector looks. Each hold reaches past the next one by the sweep's own step, so a
// channel used here lives at least channel_idle_timeout after its last use on this node, and
// at most that plus the period and a second.
Duration touch_period(Duration idle) {
    return std::clamp<Duration>(idle / 4, Duration(1000), Duration(30'000));
}

class RedisBroker final : public Broker, private redis::PubSubHandler {
public:
    RedisBroker(EventLoop& home, RedisBrokerOptions o, Clock& clock)
        : home_(home), options_(std::move(o)), clock_(clock), mirror_(make_memory_broker(clock)),
          links_(home, cluster_options(options_), *this),
          publish_script_(redis::make_script(redis::publish_script_source)),
          publish_many_script_(redis::make_script(redis::publish_many_script_source)),
          sync_script_(redis::make_script(redis::sync_script_source)),
          touch_script_(redis::make_script(redis::touch_script_source)),
          close_script_(redis::make_script(redis::close_script_source)) {
        // The links connect once the home loop runs (after a daemon's fork).
        home_.post([this] {
            if (std::error_code ec = links_.start())
                HERALD_ERROR("redis %s:%u: %s", options_.link.host.c_str(), options_.link.port,
                             ec.message().c_str());
            arm_sweep();
        });
    }

    WorkerId attach_worker(PostFn post) override {
        return mirror_->attach_worker(std::move(post));
    }

    BrokerCall publish_async(WorkerId worker, std::string_view channel, std::string_view data,
                             std::string_view content_type, std::string_view event,
                             PublishDone done) override {
        if (const PushError e = mirror_->may_have(channel, false); e != PushError::none) {
            done(PublishResult{e, 0, 0, 0});
            return {};
        }
        auto call = std::make_shared<CallState>();
        home_.post([this, worker, call, ch = std::string(channel), d = std::string(data),
                    t = std::string(content_type), ev = std::string(event),
                    done = std::move(done)]() mutable {
            run_publish(worker, std::move(call), ch, d, t, ev, done);
        });
        return cancel_hook(call);
    }

    // Checked here as publish_async() checks one channel, then one script stores them all.
    BrokerCall publish_many_async(WorkerId worker, std::span<const std::string> channels,
                                  std::string_view data, std::string_view content_type,
                                  std::string_view event, MultiPublishDone done) override {
        for (std::size_t i = 0; i < channels.size(); ++i) {
            PushError e = mirror_->may_have(channels[i], false);
            for (std::size_t j = 0; j < i && e == PushError::none; ++j)
                if (channels[j] == channels[i]) e = PushError::invalid_name;
            if (e != PushError::none) {
                done(MultiPublishResult{e, i, {}});
                return {};
            }
        }
        auto call = std::make_shared<CallState>();
        home_.post([this, worker, call,
                    chs = std::vector<std::string>(channels.begin(), channels.end()),
                    d = std::string(data), t = std::string(content_type),
                    ev = std::string(event), done = std::move(done)]() mutable {
            run_publish_many(worker, std::move(call), chs, d, t, ev, done);
        });
        return cancel_hook(call);
    }

    BrokerCall publish_tick_async(WorkerId worker, std::string_view channel, std::uint64_t slot,
                                  Duration interval, std::string_view data,
                                  PublishDone done) override {
        if (const PushError e = mirror_->may_have(channel, false); e != PushError::none) {
            done(PublishResult{e, 0, 0, 0});
            return {};
        }
        auto call = std::make_shared<CallState>();
        home_.post([this, worker, call, ch = std::string(channel), d = std::string(data), slot,
                    interval, done = std::move(done)]() mutable {
            Tick tick{slot, interval};
            run_publish(worker, std::move(call), ch, d, "text/plain", "", done, &tick);
        });
        return cancel_hook(call);
    }

    BrokerCall subscribe_async(WorkerId worker, std::string_view channel,
                               std::optional<Cursor> since, Subscriber& s,
                               SubscribeDone done) override {
        bool existing_only = false;
        if (const PushError e = subscriber_may_have(channel, existing_only); e != PushError::none) {
            SubscribeResult r;
            r.error = e;
            done(std::move(r));
            return {};
        }
        auto call = std::make_shared<CallState>();
        std::string ch(channel);
        when_mirrored(worker, call, ch, existing_only, since, true, [this, worker, ch, since, &s, done = std::move(done)](PushError e) {
            if (e != PushError::none) {
                SubscribeResult r;
                r.error = e;
                done(std::move(r));
                return;
            }
            done(mirror_->subscribe(ch, since, s, worker));
        });
        return cancel_hook(call);
    }

    BrokerCall fetch_async(WorkerId worker, std::string_view channel, std::optional<Cursor> since,
                           std::size_t limit, FetchDone done) override {
        bool existing_only = false;
        if (const PushError e = subscriber_may_have(channel, existing_only); e != PushError::none) {
            FetchResult r;
            r.error = e;
            done(std::move(r));
            return {};
        }
        auto call = std::make_shared<CallState>();
        std::string ch(channel);
        when_mirrored(worker, call, ch, existing_only, since, true, [this, ch, since, limit, done = std::move(done)](PushError e) {
            if (e != PushError::none) {
                FetchResult r;
                r.error = e;
                done(std::move(r));
                return;
            }
            done(mirror_->fetch(ch, since, limit));
        });
        return cancel_hook(call);
    }

    BrokerCall channel_info_async(WorkerId worker, std::string_view channel,
                                  InfoDone done) override {
        if (const PushError e = mirror_->may_have(channel, false); e != PushError::none) {
            done(InfoResult{e, {}});
            return {};
        }
        auto call = std::make_shared<CallState>();
        std::string ch(channel);
        // As with the memory broker, asking about a channel does not create it: one the node
        // copy does not hold (it holds every declared one) must exist in Redis.
        const bool existing_only = mirror_->channel_info(ch).error == PushError::not_found;
        when_mirrored(worker, call, ch, existing_only, std::nullopt, false,
                      [this, ch, done = std::move(done)](PushError e) {
            if (e != PushError::none) {
                done(InfoResult{e, {}});
                return;
            }
            done(mirror_->channel_info(ch));
        });
        return cancel_hook(call);
    }

    BrokerCall close_channel_async(WorkerId worker, std::string_view channel,
                                   CloseDone done) override {
        if (!config::is_valid_channel_name(channel)) {
            done(PushError::invalid_name);
            return {};
        }
        auto call = std::make_shared<CallState>();
        home_.post([this, worker, call, ch = std::string(channel), done = std::move(done)]() mutable {
            run_close(worker, std::move(call), ch, done);
        });
        return cancel_hook(call);
    }

    void reconcile(const config::Config& cfg) override {
        mirror_->reconcile(cfg);
        declared_.clear();
        for (const config::ChannelConf& c : cfg.channels) declared_.emplace(c.name, c);
        autocreate_defaults_ = cfg.autocreate_defaults;
        max_channels_ = cfg.max_channels;
        idle_timeout_ = cfg.channel_idle_timeout;
    }

    // On the home loop (main's collector runs there). An autocreated channel idle on this node
    // (its copy: Channel::idle) stops being followed, and its copy goes: the node counts and
    // logs it as the memory broker does. Its life in Redis ends on its own (see the scripts:
    // its keys expire channel_idle_timeout after its last use on any node), so a later use
    // starts a new one, unless another node's clients keep it. Mirrors waited on or visited
    // within the timeout stay (a worker may be about to subscribe to the copy).
    std::size_t collect_idle() override {
        const Duration idle = idle_timeout_;
        if (idle.count() <= 0) return 0;
        const Clock::time_point now = home_.now();
        std::vector<std::string> candidates;
        for (const auto& [ch, m] : mirrors_)
            if (m.state == State::live && m.waiters.empty() && now - m.wanted_at >= idle &&
                declared_.count(ch) == 0)
                candidates.push_back(ch);
        std::size_t n = 0;
        for (const std::string& ch : candidates) {
            if (!mirror_->forget_idle(ch, idle)) continue;
            mirrors_.erase(ch);
            links_.unsubscribe(key(ch, ""));
            ++n;
        }
        return n;
    }

    // The node copy's figures, but published: the messages published through this node (its
    // copies also hold what other nodes published).
    BrokerStats stats() const override {
        BrokerStats s = mirror_->stats();
        s.published = published_.load(std::memory_order_relaxed);
        return s;
    }
    void note_delivered(std::uint64_t n, std::string_view channel) noexcept override {
        mirror_->note_delivered(n, channel);
    }
    void note_dropped(std::uint64_t n, std::string_view channel) noexcept override {
        mirror_->note_dropped(n, channel);
    }
    TopChannels top_channels(std::size_t n) override { return mirror_->top_channels(n); }

    RedisLinkStats link_stats() const {
        std::lock_guard<std::mutex> lock(stats_mutex_);
        return link_stats_;
    }

protected:
    // Subscriptions are the node copy's (mirror_->subscribe made them): they never come here.
    void unsubscribe(const SubscriptionKey&) noexcept override {}

private:
    // The asking worker's view of one call: cancelled by the BrokerCall, or answered.
    struct CallState {
        bool finished = false; // the asking worker's thread only
    };

    enum class State : std::uint8_t { subscribing, syncing, live };
    struct Waiter {
        std::function<void(PushError)> fn;
        Clock::time_point deadline;
    };
    struct Mirror {
        State state = State::subscribing;
        bool read_again = false;      // a read is under way and another is needed after it
        bool had_overflow = false;    // held messages were dropped: read again after
        bool retry = false;           // the last read failed: the sweep reads again
        std::uint64_t epoch = 0;      // of the node copy once live
        std::uint64_t last_id = 0;
        Clock::time_point wanted_at;
        Clock::time_point touched_at; // the last hold of its Redis life (touch script) sent
        bool visited = false;         // subscribed or polled here since then
        std::vector<Waiter> waiters;  // told when live (or failed)
        std::deque<Wire> held;        // pub/sub messages received during a read
    };

    static BrokerCall cancel_hook(const std::shared_ptr<CallState>& call) {
        return BrokerCall([call] { call->finished = true; });
    }

    // Runs fn on the worker's loop unless the call was cancelled by then.
    void answer(WorkerId worker, std::shared_ptr<CallState> call, std::function<void()> fn) {
        mirror_->post_to(worker, [call = std::move(call), fn = std::move(fn)] {
            if (call->finished) return;
            call->finished = true;
            fn();
        });
    }

    // may_have() for a subscriber or a poll, with existing_only set when the node copy would
    // not autocreate the channel for a subscriber (channel_autocreate_on_subscribe off) but
    // would for a publisher: Redis decides then (the channel is there if a publish made it).
    PushError subscriber_may_have(std::string_view channel, bool& existing_only) {
        const PushError e = mirror_->may_have(channel, true);
        existing_only =
            e == PushError::not_found && mirror_->may_have(channel, false) == PushError::none;
        return existing_only ? PushError::none : e;
    }

    // On the worker: asks home to mirror channel, then runs then(error) back on the worker.
    // With existing_only, a channel Redis does not hold (no epoch key) is not_found instead.
    // since: the resume point the answer serves (see ensure()); visit: a subscriber or a poll
    // (it holds the channel's life in Redis), not an info request.
    void when_mirrored(WorkerId worker, std::shared_ptr<CallState> call, const std::string& ch,
                       bool existing_only, std::optional<Cursor> since, bool visit,
                       std::function<void(PushError)> then) {
        home_.post([this, worker, existing_only, since, visit, call = std::move(call), ch,
                    then = std::move(then)]() mutable {
            auto reply = [this, worker, call, then](PushError e) mutable {
                answer(worker, std::move(call), [then = std::move(then), e] { then(e); });
            };
            if (!existing_only || mirrors_.count(ch) != 0) {
                ensure(ch, std::move(reply), since, visit);
                return;
            }
            const std::string k_epoch = key(ch, ":epoch");
            auto on_exists = [this, ch, since, visit, reply](std::error_code ec,
                                                             const redis::RespValue& v) mutable {
                if (ec || v.type != redis::RespType::integer) reply(PushError::unavailable);
                else if (v.integer == 0) reply(PushError::not_found);
                else ensure(ch, std::move(reply), since, visit);
            };
            const std::string_view exists[] = {"EXISTS", k_epoch};
            if (links_.command(exists, 1, on_exists))
                reply(PushError::unavailable);
        });
    }

    std::string key(const std::string& ch, std::string_view suffix) const {
        return redis::channel_key(options_.prefix, ch, suffix);
    }

    const config::ChannelConf& settings(const std::string& ch) const {
        const auto it = declared_.find(ch);
        return it != declared_.end() ? it->second : autocreate_defaults_;
    }

    // The Redis life of ch for the scripts: channel_idle_timeout for an autocreated channel,
    // 0 (its keys never expire) for a declared one or without a timeout.
    Duration life(const std::string& ch) const {
        return declared_.count(ch) != 0 ? Duration(0) : std::max(idle_timeout_, Duration(0));
    }
    // What a node's hold (touch) gives a channel its clients use: its life, plus the time to
    // the next hold (touch_period, and the sweep's step); 0 when it has no life.
    Duration hold(const std::string& ch) const {
        const Duration l = life(ch);
        return l.count() > 0
                   ? l + touch_period(l) + std::chrono::duration_cast<Duration>(sweep_every)
                   : Duration(0);
    }

    std::string fresh_epoch() {
        std::string e;
        append_epoch(e, make_epoch(random_()));
        return e;
    }

    // ---- home loop ---------------------------------------------------------------------

    struct Tick {
        std::uint64_t slot;
        Duration interval;
    };

    void run_publish(WorkerId worker, std::shared_ptr<CallState> call, const std::string& ch,
                     const std::string& data, const std::string& type, const std::string& event,
                     const PublishDone& done, const Tick* tick = nullptr) {
        const config::ChannelConf& conf = settings(ch);
        const std::string k_seq = key(ch, ":seq"), k_buf = key(ch, ":buf"),
                          k_epoch = key(ch, ":epoch"), topic = key(ch, ""),
                          k_tick = key(ch, ":tick");
        const std::string buffer = std::to_string(conf.buffer), ttl = ms_text(conf.ttl),
                          candidate = fresh_epoch(), lives = ms_text(life(ch));
        const std::string slot = tick ? std::to_string(tick->slot) : "",
                          tick_life = tick ? std::to_string(std::max<std::int64_t>(
                                            4 * tick->interval.count(), 1000))
                                      : "";
        const std::string_view keys[] = {k_seq, k_buf, k_epoch, k_tick};
        constexpr std::size_t sharded_arg = 6; // ARGV[7]: SPUBLISH in a cluster
        const std::string_view args[] = {data, type,  buffer, ttl,  topic, candidate,
                                         "0",  event, lives,  slot, tick_life};
        const std::span<const std::string_view> key_list(keys, tick ? 4 : 3);
        const std::span<const std::string_view> arg_list(args, tick ? 11 : 9);
        auto on_reply = [this, worker, call, ch, done](std::error_code ec, const redis::RespValue& v) {
            PublishResult r{PushError::unavailable, 0, 0, 0};
            std::uint64_t id = 0, epoch = 0;
            if (!ec && v.elements.size() == 2 && v.elements[0].type == redis::RespType::integer &&
                v.elements[0].integer == 0) {
                r = PublishResult{PushError::none, 0, 0, 0};  // a tick another node published
            } else if (!ec && v.elements.size() == 2 &&
                       v.elements[0].type == redis::RespType::integer &&
                       v.elements[0].integer > 0 && parse_epoch(v.elements[1].str, epoch)) {
                id = static_cast<std::uint64_t>(v.elements[0].integer);
                published_.fetch_add(1, std::memory_order_relaxed);
                // Subscribers of this node (the others' are not counted).
                r = PublishResult{PushError::none, id, epoch, mirror_->subscriber_count(ch)};
            } else {
                HERALD_WARN("redis publish on \"%s\" failed: %s", ch.c_str(),
                            ec ? ec.message().c_str() : std::string(v.str).c_str());
            }
            answer(worker, call, [done, r] { done(r); });
        };
        if (std::error_code ec =
                links_.eval(publish_script_, key_list, arg_list, sharded_arg, on_reply)) {
            HERALD_WARN("redis publish on \"%s\": %s", ch.c_str(), ec.message().c_str());
            answer(worker, std::move(call),
                   [done] { done(PublishResult{PushError::unavailable, 0, 0, 0}); });
        }
    }

    // The first channel whose keys are not in the first channel's hash slot (chs.size() when
    // they all are): on a Redis Cluster one script cannot span slots.
    std::size_t first_other_slot(const std::vector<std::string>& chs) const {
        const std::uint16_t slot = redis::key_slot(key(chs.front(), ":seq"));
        for (std::size_t i = 1; i < chs.size(); ++i)
            if (redis::key_slot(key(chs[i], ":seq")) != slot) return i;
        return chs.size();
    }

    void run_publish_many(WorkerId worker, std::shared_ptr<CallState> call,
                          const std::vector<std::string>& chs, const std::string& data,
                          const std::string& type, const std::string& event,
                          const MultiPublishDone& done) {
        const auto fail = [this, worker, &call, &done](PushError e, std::size_t at) {
            answer(worker, std::move(call), [done, e, at] { done(MultiPublishResult{e, at, {}}); });
        };
        if (chs.empty()) {
            fail(PushError::invalid_name, 0);
            return;
        }
        if (links_.is_cluster()) {
            if (const std::size_t other = first_other_slot(chs); other != chs.size()) {
                fail(PushError::cross_slot, other);
                return;
            }
        }
        std::vector<std::string> keys, per;  // the strings the views below point into
        keys.reserve(3 * chs.size());
        per.reserve(5 * chs.size());
        for (const std::string& ch : chs) {
            for (const char* suffix : {":seq", ":buf", ":epoch"}) keys.push_back(key(ch, suffix));
            const config::ChannelConf& conf = settings(ch);
            per.push_back(std::to_string(conf.buffer));
            per.push_back(ms_text(conf.ttl));
            per.push_back(key(ch, ""));
            per.push_back(fresh_epoch());
            per.push_back(ms_text(life(ch)));
        }
        constexpr std::size_t sharded_arg = 3;  // ARGV[4]: SPUBLISH in a cluster
        std::vector<std::string_view> key_views(keys.begin(), keys.end());
        std::vector<std::string_view> args{data, type, event, "0"};
        args.insert(args.end(), per.begin(), per.end());
        auto on_reply = [this, worker, call, chs, done](std::error_code ec,
                                                         const redis::RespValue& v) {
            MultiPublishResult r{PushError::unavailable, 0, {}};
            bool ok = !ec && v.type == redis::RespType::array && v.elements.size() == chs.size();
            for (std::size_t i = 0; ok && i < chs.size(); ++i) {
                const redis::RespValue& e = v.elements[i];
                std::uint64_t epoch = 0;
                ok = e.elements.size() == 2 && e.elements[0].type == redis::RespType::integer &&
                     e.elements[0].integer > 0 && parse_epoch(e.elements[1].str, epoch);
                if (ok)
                    r.results.push_back(PublishResult{
                        PushError::none, static_cast<std::uint64_t>(e.elements[0].integer), epoch,
                        mirror_->subscriber_count(chs[i])});  // this node's subscribers
            }
            if (ok) {
                r.error = PushError::none;
                published_.fetch_add(chs.size(), std::memory_order_relaxed);
            } else if (!ec && v.is_error() && v.str.starts_with("CROSSSLOT")) {
                // The mode was not known yet when the script was sent: Redis said it.
                r = MultiPublishResult{PushError::cross_slot,
                                       std::min(first_other_slot(chs), chs.size() - 1), {}};
            } else {
                r.results.clear();
                HERALD_WARN("redis publish on \"%s\" and %zu more failed: %s", chs[0].c_str(),
                            chs.size() - 1, ec ? ec.message().c_str() : std::string(v.str).c_str());
            }
            answer(worker, call, [done, r = std::move(r)] { done(r); });
        };
        if (std::error_code ec =
                links_.eval(publish_many_script_, key_views, args, sharded_arg, on_reply)) {
            HERALD_WARN("redis publish on \"%s\" and %zu more: %s", chs[0].c_str(),
                        chs.size() - 1, ec.message().c_str());
            fail(PushError::unavailable, 0);
        }
    }

    void run_close(WorkerId worker, std::shared_ptr<CallState> call, const std::string& ch,
                   const CloseDone& done) {
        const std::string k_seq = key(ch, ":seq"), k_buf = key(ch, ":buf"),
                          k_epoch = key(ch, ":epoch"), topic = key(ch, "");
        const std::string_view keys[] = {k_seq, k_buf, k_epoch};
        const std::string_view args[] = {topic, "0"};
        auto on_reply = [this, worker, call, ch, done](std::error_code ec, const redis::RespValue& v) {
            PushError e = PushError::unavailable;
            if (!ec && v.type == redis::RespType::integer) {
                const bool known_here = mirror_->channel_info(ch).error == PushError::none;
                e = v.integer == 1 || known_here ? PushError::none : PushError::not_found;
                forget_mirror(ch, true);
            }
            answer(worker, call, [done, e] { done(e); });
        };
        if (std::error_code ec = links_.eval(close_script_, keys, args, 1, on_reply))
            answer(worker, std::move(call), [done] { done(PushError::unavailable); });
    }

    // Calls fn(none) once ch is mirrored (at once if it is), or fn(error) if that fails or
    // takes longer than the command timeout. A resume point of the copy's life that the copy
    // has not reached (a client saw it on another node first; this node's pub/sub is behind
    // or its link is down) is caught up from Redis first: it is a resume point, not an id the
    // channel never had. visit: a subscriber or a poll, which holds the channel's Redis life.
    void ensure(const std::string& ch, std::function<void(PushError)> fn,
                const std::optional<Cursor>& since, bool visit) {
        const Clock::time_point now = home_.now();
        // Channels followed at once are bounded like channels (max_channels), also while
        // Redis is away and nothing is confirmed.
        if (mirrors_.size() >= max_channels_ && mirrors_.count(ch) == 0) {
            fn(PushError::too_many_channels);
            return;
        }
        auto [it, fresh] = mirrors_.try_emplace(ch);
        Mirror& m = it->second;
        m.wanted_at = now;
        if (visit) {
            m.visited = true;
            touch_if_due(ch, m, now);  // before the read: the life must not end under it
        }
        const bool behind = m.state == State::live && since && !since->foreign &&
                            since->epoch == m.epoch && since->seq > m.last_id;
        if (m.state == State::live && !behind) {
            fn(PushError::none);
            return;
        }
        m.waiters.push_back(Waiter{std::move(fn), now + options_.link.command_timeout});
        if (behind) read_channel(ch);
        if (fresh) {
            links_.subscribe(key(ch, ""));
            if (!links_.connected(key(ch, "")))
                HERALD_DEBUG("redis: \"%s\" waits for the pub/sub link", ch.c_str());
        }
    }

    // Holds ch's Redis life (touch script) if it is autocreated with a channel_idle_timeout,
    // had a subscriber here or a visit since the last hold, and that was touch_period ago.
    void touch_if_due(const std::string& ch, Mirror& m, Clock::time_point now) {
        const Duration held = hold(ch);
        if (held.count() == 0) return;
        if (m.touched_at != Clock::time_point{} && now - m.touched_at < touch_period(life(ch)))
            return;
        if (!m.visited && mirror_->subscriber_count(ch) == 0) return;
        m.touched_at = now;
        m.visited = false;
        const std::string k_seq = key(ch, ":seq"), k_buf = key(ch, ":buf"),
                          k_epoch = key(ch, ":epoch"), ms = ms_text(held);
        const std::string_view keys[] = {k_seq, k_buf, k_epoch};
        const std::string_view args[] = {ms, settings(ch).ttl.count() > 0 ? "0" : "1"};
        auto on_reply = [this, ch](std::error_code ec, const redis::RespValue& v) {
            if (!ec && v.type == redis::RespType::integer) return;
            HERALD_DEBUG("redis: holding channel \"%s\" failed: %s", ch.c_str(),
                         ec ? ec.message().c_str() : std::string(v.str).c_str());
            const auto it = mirrors_.find(ch);
            if (it != mirrors_.end()) it->second.touched_at = Clock::time_point{};  // again
        };
        if (links_.eval(touch_script_, keys, args, std::size(args), on_reply))
            m.touched_at = Clock::time_point{};
    }

    void wake(Mirror& m, PushError e) {
        std::vector<Waiter> w = std::move(m.waiters);
        m.waiters.clear();
        for (Waiter& x : w) x.fn(e);
    }

    // Reads the channel from Redis and makes the node copy match it.
    void read_channel(const std::string& ch) {
        auto it = mirrors_.find(ch);
        if (it == mirrors_.end()) return;
        Mirror& m = it->second;
        if (m.state == State::syncing) {
            m.read_again = true;
            return;
        }
        m.state = State::syncing;
        const config::ChannelConf& conf = settings(ch);
        const std::string k_seq = key(ch, ":seq"), k_buf = key(ch, ":buf"),
                          k_epoch = key(ch, ":epoch");
        const std::string candidate = fresh_epoch(), count = std::to_string(conf.buffer),
                          ttl = ms_text(conf.ttl), held = ms_text(hold(ch));
        const std::string_view keys[] = {k_seq, k_buf, k_epoch};
        const std::string_view args[] = {candidate, count, ttl, held};
        catch_up_reads_.fetch_add(1, std::memory_order_relaxed);
        auto on_reply = [this, ch](std::error_code ec, const redis::RespValue& v) {
            on_read(ch, ec, v);
        };
        if (std::error_code ec = links_.eval(sync_script_, keys, args, std::size(args), on_reply))
            on_read(ch, ec, redis::RespValue{});
    }

    void on_read(const std::string& ch, std::error_code ec, const redis::RespValue& v) {
        auto it = mirrors_.find(ch);
        if (it == mirrors_.end()) return;  // deleted meanwhile
        Mirror& m = it->second;
        std::uint64_t epoch = 0;
        const bool shape = !ec && v.elements.size() == 4 && parse_epoch(v.elements[0].str, epoch) &&
                           v.elements[1].type == redis::RespType::integer &&
                           v.elements[1].integer >= 0 &&
                           v.elements[3].type == redis::RespType::integer;
        std::vector<std::shared_ptr<Message>> buffered;
        bool entries_ok = shape;
        const std::uint64_t last = shape ? static_cast<std::uint64_t>(v.elements[1].integer) : 0;
        if (shape) {
            const auto& entries = v.elements[2].elements;
            const std::int64_t redis_now = v.elements[3].integer;  // ms, Redis's clock
            const Clock::time_point steady = clock_.now();
            const auto wall = std::chrono::system_clock::now();
            buffered.reserve(entries.size());
            for (auto e = entries.rbegin(); e != entries.rend() && entries_ok; ++e) {
                Wire w;
                w.epoch = epoch;
                const std::string_view sid = e->elements.size() == 2 ? e->elements[0].str : "";
                const std::size_t dash = sid.find('-');
                entries_ok = dash != std::string_view::npos &&
                             ascii::parse_decimal(sid.substr(0, dash), UINT64_MAX, w.id) &&
                             w.id != 0;
                if (!entries_ok) break;
                const auto& f = e->elements[1].elements;
                std::uint64_t at = 0;
                for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
                    if (f[i].str == "p") w.data.assign(f[i + 1].str);
                    else if (f[i].str == "t") w.type.assign(f[i + 1].str);
                    else if (f[i].str == "e") w.event.assign(f[i + 1].str);
                    else if (f[i].str == "ms")
                        (void)ascii::parse_decimal(f[i + 1].str, UINT64_MAX, at);
                }
                if (!buffered.empty() && w.id != buffered.back()->id + 1) entries_ok = false;
                buffered.push_back(to_message(ch, std::move(w)));
                // Aged by Redis's clock, so the copy drops it at its ttl as Redis's read does
                // (an entry without its time counts as new).
                const Duration age(at == 0 || at > static_cast<std::uint64_t>(redis_now)
                                       ? 0
                                       : redis_now - static_cast<std::int64_t>(at));
                buffered.back()->published_steady = steady - age;
                buffered.back()->published_at = wall - age;
            }
            if (entries_ok && !buffered.empty() && buffered.back()->id != last) entries_ok = false;
        }
        if (!entries_ok) {
            HERALD_WARN("redis: reading channel \"%s\" failed: %s", ch.c_str(),
                        ec ? ec.message().c_str() : "unexpected reply");
            m.state = m.epoch != 0 ? State::live : State::subscribing;
            m.held.clear();
            m.read_again = false;
            m.retry = true;
            wake(m, PushError::unavailable);
            if (m.epoch == 0) forget_mirror(ch, false);
            return;
        }
        if (m.epoch != 0 && (epoch != m.epoch || last < m.last_id))
            resets_.fetch_add(1, std::memory_order_relaxed);
        (void)mirror_->adopt(ch, epoch, last, buffered);
        m.epoch = epoch;
        m.last_id = last;
        m.state = State::live;
        m.retry = false;
        std::deque<Wire> held = std::move(m.held);
        m.held.clear();
        const bool again = m.read_again || m.had_overflow;
        m.read_again = m.had_overflow = false;
        for (Wire& w : held) {
            // Held from before the read: another life's message is older than what the read
            // saw (a newer one would reach this node after it, and be read then).
            if (w.epoch != m.epoch) continue;
            apply(ch, m, std::move(w));
        }
        if (again && m.state == State::live) read_channel(ch);
        auto still = mirrors_.find(ch);
        if (still != mirrors_.end()) wake(still->second, PushError::none);
    }

    // A pub/sub message for a live mirror.
    void apply(const std::string& ch, Mirror& m, Wire&& w) {
        if (m.state == State::syncing) {
            if (m.held.size() >= max_held) {
                m.had_overflow = true;
                return;
            }
            m.held.push_back(std::move(w));
            return;
        }
        if (w.epoch == m.epoch && w.id <= m.last_id) return;  // the read had it
        if (w.epoch == m.epoch && w.id == m.last_id + 1) {
            m.last_id = w.id;
            if (!mirror_->append_at(to_message(ch, std::move(w))))
                read_channel(ch);  // the copy went (DELETE here, reload): read it again
            return;
        }
        // A gap, or another life of the channel: read it, keeping this message for after.
        m.held.push_back(std::move(w));
        read_channel(ch);
    }

    // Stops mirroring ch; with close, its node copy is closed too (subscribers are told).
    // ch may be the mirror's own key: it is not used after the erase.
    void forget_mirror(const std::string& ch, bool close) {
        const auto it = mirrors_.find(ch);
        if (close) (void)mirror_->close_channel(ch);
        if (it == mirrors_.end()) return;
        wake(it->second, close ? PushError::not_found : PushError::unavailable);
        links_.unsubscribe(key(ch, ""));
        mirrors_.erase(it);
    }

    // The channel named by a pub/sub topic "{" prefix channel "}" (a view into topic), or "".
    std::string_view channel_of(std::string_view topic) const {
        if (topic.size() < options_.prefix.size() + 2 || topic.front() != '{' ||
            topic.back() != '}' || topic.substr(1, options_.prefix.size()) != options_.prefix)
            return {};
        return topic.substr(1 + options_.prefix.size(), topic.size() - 2 - options_.prefix.size());
    }

    // Per pub/sub message: no string is built to find the mirror (ch is the entry's key).
    void on_message(std::string_view topic, std::string_view payload, bool) noexcept override {
        const auto it = mirrors_.find(channel_of(topic));
        if (it == mirrors_.end()) return;
        const std::string& ch = it->first;
        Wire w;
        if (!parse_wire(payload, w)) {
            HERALD_WARN("redis: malformed message on \"%s\" ignored", ch.c_str());
            return;
        }
        if (w.close) {
            forget_mirror(ch, true);
            return;
        }
        if (it->second.state == State::subscribing) return;  // the read after the confirm has it
        apply(ch, it->second, std::move(w));
    }

    void on_subscribed(std::string_view topic, bool) noexcept override {
        const auto it = mirrors_.find(channel_of(topic));
        if (it != mirrors_.end()) read_channel(it->first);
    }

    void on_link_down() noexcept override {
        HERALD_WARN("redis: a pub/sub link was lost; its channels are read again when it is back");
    }

    // Each subscription confirmed again has already started its read (on_subscribed).
    void on_link_up(bool) noexcept override {}

    void arm_sweep() {
        sweep_ = home_.add_timer(sweep_every, [this] {
            sweep();
            arm_sweep();
        });
    }

    void sweep() {
        const Clock::time_point now = home_.now();
        std::vector<std::string> idle, reread;
        std::vector<Waiter> late;  // answered after the walk: nothing changes mirrors_ meanwhile
        for (auto& [ch, m] : mirrors_) {
            // Waiters past their deadline are answered unavailable.
            const auto overdue = std::stable_partition(
                m.waiters.begin(), m.waiters.end(),
                [now](const Waiter& w) { return w.deadline > now; });
            std::move(overdue, m.waiters.end(), std::back_inserter(late));
            m.waiters.erase(overdue, m.waiters.end());
            if (m.retry && m.state == State::live && links_.connected(key(ch, "")))
                reread.push_back(ch);
            if (m.state == State::live && m.waiters.empty() && now - m.wanted_at >= options_.linger) {
                if (mirror_->subscriber_count(ch) == 0) idle.push_back(ch);
            }
            touch_if_due(ch, m, now);
        }
        for (Waiter& w : late) w.fn(PushError::unavailable);
        for (const std::string& ch : reread) read_channel(ch);
        for (const std::string& ch : idle) {
            mirrors_.erase(ch);
            links_.unsubscribe(key(ch, ""));
            (void)mirror_->forget(ch);
        }
        std::lock_guard<std::mutex> lock(stats_mutex_);
        const redis::ClusterStats links = links_.stats();
        link_stats_.commands = links.commands;
        link_stats_.pubsub = links.pubsub;
        link_stats_.cluster = links.cluster;
        link_stats_.masters = links.masters;
        link_stats_.redirects = links.redirects;
        link_stats_.catch_up_reads = catch_up_reads_.load(std::memory_order_relaxed);
        link_stats_.resets = resets_.load(std::memory_order_relaxed);
        link_stats_.mirrored = mirrors_.size();
    }

    EventLoop& home_;
    RedisBrokerOptions options_;
    Clock& clock_;  // the copy's (for the age of messages read)
    std::unique_ptr<LocalBroker> mirror_;
    redis::ClusterClient links_; // the command and pub/sub links (one of each per master)
    const redis::Script publish_script_, publish_many_script_, sync_script_, touch_script_,
        close_script_;

    // Home loop only:
    std::unordered_map<std::string, Mirror, StringHash, std::equal_to<>> mirrors_;
    std::unordered_map<std::string, config::ChannelConf> declared_;
    config::ChannelConf autocreate_defaults_;
    std::uint64_t max_channels_ = 0;
    Duration idle_timeout_{0};  // channel_idle_timeout
    std::mt19937_64 random_{std::random_device{}()};
    Timer sweep_;

    std::atomic<std::uint64_t> published_{0};  // 201s of this node
    std::atomic<std::uint64_t> catch_up_reads_{0};
    std::atomic<std::uint64_t> resets_{0};
    mutable std::mutex stats_mutex_;
    RedisLinkStats link_stats_;  // guarded by stats_mutex_, refreshed by the sweep
};

} // namespace

std::unique_ptr<Broker> make_redis_broker(EventLoop& home, RedisBrokerOptions options,
                                          Clock& clock) {
    return std::make_unique<RedisBroker>(home, std::move(options), clock);
}

bool redis_link_stats(const Broker& b, RedisLinkStats& out) {
    const auto* r = dynamic_cast<const RedisBroker*>(&b);
    if (r == nullptr) return false;
    out = r->link_stats();
    return true;
}

} // namespace herald::push
