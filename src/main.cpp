// herald: command line, config load, listeners, workers, signals (HUP reload, TERM/INT fast
// stop, QUIT graceful stop, USR1 log reopen, USR2 binary upgrade) and the clock sources.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "app/daemon.hpp"
#include "app/notify.hpp"
#include "app/upgrade.hpp"
#include "app/version.hpp"
#include "app/worker.hpp"
#include "config/config.hpp"
#include "core/log.hpp"
#include "core/memory.hpp"
#include "event/event_loop.hpp"
#include "net/addr_limiter.hpp"
#include "net/socket.hpp"
#include "push/broker.hpp"
#include "push/redis_broker.hpp"
#include "push/message.hpp"

namespace herald {
namespace {

struct Options {
    std::string conf = "conf/herald.conf";
    bool test = false, quiet = false, version = false, help = false;
    std::string signal;
    std::vector<std::string> args;  // the command line, for an upgrade's new process
    std::string exe;                // the binary's path, resolved at start
};

void usage(FILE* out) {
    std::fprintf(out,
                 "Usage: herald [-c FILE] [-t] [-q] [-s SIGNAL] [-v|-V] [-h]\n\n"
                 "  -c FILE    configuration file (default: %s)\n"
                 "  -t         test the configuration and exit\n"
                 "  -q         quiet: with -t, print only errors\n"
                 "  -s SIGNAL  send reload|stop|quit|reopen|upgrade to the running master\n"
                 "  -v, -V     print the version and exit\n"
                 "  -h         this help\n",
                 app::default_config_path());
}

bool parse_args(int argc, char** argv, Options& o) {
    o.conf = app::default_config_path();
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-c" && i + 1 < argc) o.conf = argv[++i];
        else if (a == "-t") o.test = true;
        else if (a == "-q") o.quiet = true;
        else if (a == "-v" || a == "-V" || a == "--version") o.version = true;
        else if (a == "-h" || a == "--help" || a == "-?") o.help = true;
        else if (a == "-s" && i + 1 < argc) o.signal = argv[++i];
        else {
            std::fprintf(stderr, "herald: invalid option: \"%s\"\n", a.c_str());
            return false;
        }
    }
    return true;
}

// Sockets for one listen key: one per worker, all bound to the same port (SO_REUSEPORT), so
// the kernel spreads connections over the workers' accept queues.
struct BoundListen {
    std::string key;
    std::vector<UniqueFd> fds;
};

// A second descriptor for each socket: the master keeps them to hand over in an upgrade.
std::vector<UniqueFd> dup_all(const std::vector<UniqueFd>& fds) {
    std::vector<UniqueFd> out;
    for (const UniqueFd& fd : fds) {
        out.emplace_back(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
        if (!out.back())
            throw std::runtime_error(std::string("fcntl(F_DUPFD_CLOEXEC) failed (") +
                                     std::strerror(errno) + ")"); // NOLINT(concurrency-mt-unsafe)
    }
    return out;
}

BoundListen bind_listen(const config::ListenConf& l, std::size_t workers) {
    BoundListen b;
    b.key = http::Router::listen_key(l);
    net::Address addr;
    if (net::make_address(l.host, l.port, addr))
        throw std::runtime_error("invalid listen address \"" + l.host + "\"");
    for (std::size_t i = 0; i < workers; ++i) {
        std::error_code ec;
        UniqueFd fd = net::listen_on(addr, l.backlog, ec);
        if (ec)
            throw std::runtime_error("bind() to " + addr.to_string() + " failed (" +
                                     ec.message() + ")");
        if (i == 0) {  // port 0: the others must join the port the kernel picked
            addr = net::local_address(fd.get(), ec);
            HERALD_NOTICE("listening on %s", addr.to_string().c_str());
        }
        b.fds.push_back(std::move(fd));
    }
    return b;
}

std::vector<config::ListenConf> unique_listens(const config::Config& cfg) {
    std::map<std::string, config::ListenConf> seen;
    for (const config::ServerConf& s : cfg.servers)
        for (const config::ListenConf& l : s.listens) seen.emplace(http::Router::listen_key(l), l);
    std::vector<config::ListenConf> out;
    out.reserve(seen.size());
    for (auto& [k, l] : seen) out.push_back(l);
    return out;
}

// `broker memory` (this process) or `broker redis` (home: the master loop, which owns the
// node's Redis links; they connect once the loop runs, after any daemon fork).
std::unique_ptr<push::Broker> make_broker(const config::Config& cfg, EventLoop& home) {
    if (cfg.broker == config::BrokerKind::memory) return push::make_memory_broker();
    push::RedisBrokerOptions o;
    o.link.host = cfg.redis.host;
    o.link.port = cfg.redis.port;
    for (const config::RedisConf::Server& s : cfg.redis.servers)
        o.servers.push_back(redis::NodeAddress{s.host, s.port});
    o.link.user = cfg.redis.user;
    o.link.password = cfg.redis.password;
    o.link.database = cfg.redis.database;
    o.link.connect_timeout = cfg.redis.timeout;
    o.link.command_timeout = cfg.redis.timeout;
    o.prefix = cfg.redis.prefix;
    return push::make_redis_broker(home, std::move(o));
}

class Master {
public:
    // handover: this process's end of an upgrade's socket, or invalid for a plain start.
    Master(std::shared_ptr<const config::Config> cfg, Options opts, UniqueFd handover)
        : opts_(std::move(opts)), cfg_(std::move(cfg)), handover_(std::move(handover)),
          broker_(make_broker(*cfg_, loop_)) {}

    int run();

private:
    void apply_log_settings(const config::Config& cfg);
    void start_clocks();
    void arm_clock(std::size_t slot);
    void arm_collector();
    void check_stopped();
    void reload();
    void stop(bool graceful);
    std::vector<BoundListen> open_listeners(app::Handover* h, std::size_t& n);
    void adopt_channels(std::vector<app::HandedChannel>& channels);
    // The memory broker (the Redis broker is no LocalBroker: its channels stay in Redis).
    push::LocalBroker* memory_broker() const noexcept {
        return dynamic_cast<push::LocalBroker*>(broker_.get());
    }
    void upgrade();
    void upgraded(pid_t pid);
    void hand_over_connections(UniqueFd channel);
    void send_handed(UniqueFd fd, net::LiveState&& st);
    void notify(const std::string& state);

    Options opts_;
    std::shared_ptr<const config::Config> cfg_;
    UniqueFd handover_;
    EventLoop loop_;  // before broker_: the Redis broker's links live on it
    std::unique_ptr<push::Broker> broker_;
    net::AddrLimiter limiter_;   // per-address limits of every worker; outlives them
    std::vector<std::unique_ptr<app::Worker>> workers_;
    std::vector<app::Worker*> worker_ptrs_;
    // The workers' listeners by index (net::Server numbers them in the order they are added, the
    // same in every worker): a listen key, or "" for one a reload closed. Never reordered.
    std::vector<std::string> listeners_;
    std::vector<std::vector<UniqueFd>> held_;  // by listener index: the master's copies
    std::unique_ptr<app::Process> proc_;
    std::unique_ptr<app::UpgradeChild> upgrade_;  // while a new process is starting
    // The old process of an upgrade: the socket the live connections go over, and counts.
    UniqueFd handing_;
    std::size_t handed_ = 0, hand_failed_ = 0;
    // The new process: the old one's connections as they come.
    std::unique_ptr<app::ConnectionReceiver> receiver_;
    std::size_t next_worker_ = 0;
    bool handed_over_ = false;                     // a new process serves: keep quiet to systemd
    push::WorkerId broker_worker_ = 0;  // this loop at the broker (clock publishes)
    std::vector<Timer> clocks_;
    std::vector<std::pair<std::string, Duration>> clock_channels_;
    struct ClockPublish {
        push::BrokerCall call;  // the last publish; cancelled when the clocks go
        bool waiting = false;   // not answered yet
    };
    std::vector<ClockPublish> clock_publishes_;
    Timer collector_;            // idle channel collection (channel_idle_timeout)
    TrimPolicy channel_trim_;    // give memory back after many channels went
    bool trim_next_tick_ = false;
    Timer stop_poll_;
    bool stopping_ = false;
};

void Master::apply_log_settings(const config::Config& cfg) {
    log::set_level(cfg.error_log_level);
    if (cfg.error_log != log::path()) {
        if (auto ec = log::open(cfg.error_log))
            HERALD_ERROR("open() \"%s\" failed: %s", cfg.error_log.c_str(), ec.message().c_str());
    }
}

void Master::start_clocks() {
    clocks_.clear();
    clock_publishes_.clear();  // unanswered publishes of the old clocks: answers dropped
    clock_channels_.clear();
    for (const config::ChannelConf& ch : cfg_->channels) {
        if (ch.clock_interval.count() <= 0) continue;
        clock_channels_.emplace_back(ch.name, ch.clock_interval);
        clocks_.emplace_back();
        clock_publishes_.emplace_back();
        arm_clock(clocks_.size() - 1);
    }
    arm_collector();
}

// channel_idle_timeout: look for idle autocreated channels four times per timeout, no more
// often than every 250 ms and at least every 30 s (so, for timeouts of 1 s and more, a channel
// goes between 1x and 1.25x its timeout after it fell idle).
void Master::arm_collector() {
    collector_ = Timer();
    const Duration idle = cfg_->channel_idle_timeout;
    if (idle.count() <= 0) return;
    const Duration every = std::clamp<Duration>(idle / 4, Duration(250), Duration(30'000));
    collector_ = loop_.add_timer(every, [this] {
        const std::size_t n = broker_->collect_idle();
        if (n != 0) HERALD_INFO("collected %zu idle channel%s", n, n == 1 ? "" : "s");
        // The policy sees every tick, so it knows the peak as well as the fall. The tick after
        // a collection trims once more: a single malloc_trim() right after 100,000 channels
        // were freed sometimes left 20-30 MiB resident that the next one returned.
        const std::uint64_t left = broker_->stats().channels;
        if (channel_trim_.should_release(left) || trim_next_tick_) {
            release_free_memory();
            HERALD_DEBUG("free memory released, %llu channels",
                         static_cast<unsigned long long>(left));
        }
        trim_next_tick_ = n != 0;
        arm_collector();
    });
}

// `source clock INTERVAL`: publish the local time, then re-arm. The broker answers on this
// loop (the master's, attached as a broker worker): at most one publish per clock waits for
// it, a tick that finds the last one unanswered is skipped.
void Master::arm_clock(std::size_t slot) {
    // Ticks fall on multiples of the interval in wall-clock time, so every node of a Redis
    // broker aims at the same tick and the broker publishes it once (publish_tick_async).
    const auto interval = clock_channels_[slot].second;
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const auto every = std::max<std::int64_t>(interval.count(), 1);
    const Duration delay(every - now_ms % every);
    clocks_[slot] = loop_.add_timer(delay, [this, slot, every] {
        ClockPublish& p = clock_publishes_[slot];
        if (!p.waiting) {
            p.waiting = true;
            const auto t = std::chrono::system_clock::now();
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                t.time_since_epoch()).count();
            // The tick this timer aimed at, also when it fires a little early.
            const auto tick = static_cast<std::uint64_t>((ms + every / 2) / every);
            push::BrokerCall call = broker_->publish_tick_async(
                broker_worker_, clock_channels_[slot].first, tick, clock_channels_[slot].second,
                push::clock_message(t),
                [this, slot](const push::PublishResult& r) {
                    clock_publishes_[slot].waiting = false;
                    if (r.error != push::PushError::none)
                        HERALD_DEBUG("clock \"%s\": %s", clock_channels_[slot].first.c_str(),
                                     push::to_string(r.error));
                });
            if (p.waiting) p.call = std::move(call);
        }
        arm_clock(slot);
    });
}

// The listening sockets: bound here, or, for an upgrade's new process, taken from the old one
// where the config still names them (with the old process's count per listen: worker_threads
// changes need a restart), bound for new listens, closed for removed ones.
std::vector<BoundListen> Master::open_listeners(app::Handover* h, std::size_t& n) {
    std::vector<BoundListen> bound;
    if (h && !h->listeners.empty()) {
        const std::size_t handed = h->listeners.front().second.size();
        if (handed != n)
            HERALD_WARN("worker_threads changes take effect on restart only (keeping %zu)", handed);
        n = handed;
    }
    for (const config::ListenConf& l : unique_listens(*cfg_)) {
        const std::string key = http::Router::listen_key(l);
        auto it = h ? std::find_if(h->listeners.begin(), h->listeners.end(),
                                   [&](const auto& p) { return p.first == key; })
                    : std::vector<std::pair<std::string, std::vector<UniqueFd>>>::iterator();
        if (!h || it == h->listeners.end()) {
            if (h) HERALD_NOTICE("upgrade: %s is new: bound here", key.c_str());
            bound.push_back(bind_listen(l, n));
            continue;
        }
        if (it->second.size() != n)
            throw std::runtime_error("upgrade: " + std::to_string(it->second.size()) +
                                     " sockets for " + key + ", expected " + std::to_string(n));
        std::error_code ec;
        const net::Address at = net::local_address(it->second.front().get(), ec);
        HERALD_NOTICE("upgrade: took over %s, listen %s (%zu socket%s)", at.to_string().c_str(),
                      key.c_str(), n, n == 1 ? "" : "s");
        bound.push_back(BoundListen{key, std::move(it->second)});
        h->listeners.erase(it);
    }
    if (h) {
        for (const auto& [key, fds] : h->listeners)
            HERALD_NOTICE("upgrade: %s is no longer configured: closed", key.c_str());
        h->listeners.clear();  // the handover lives as long as run(): close them now
    }
    return bound;
}

int Master::run() {
    apply_log_settings(*cfg_);
    net::ignore_sigpipe();
    std::optional<app::Handover> handover;
    if (handover_) handover = app::receive_handover(std::move(handover_));
    std::size_t n = static_cast<std::size_t>(cfg_->worker_threads);
    std::vector<BoundListen> bound = open_listeners(handover ? &*handover : nullptr, n);
    for (BoundListen& b : bound) {
        listeners_.push_back(b.key);
        held_.push_back(dup_all(b.fds));
    }
    auto routes = std::make_shared<const http::Router>(cfg_, listeners_);
    broker_->reconcile(*cfg_);
    if (handover) adopt_channels(handover->channels);
    broker_worker_ = broker_->attach_worker(loop_);  // before any loop runs
    // Workers open the access log here, still with the privileges the logs need; no thread
    // runs before after_bind(), which may fork.
    for (std::size_t i = 0; i < n; ++i) {
        workers_.push_back(std::make_unique<app::Worker>(i, routes, *broker_, &worker_ptrs_, limiter_));
        worker_ptrs_.push_back(workers_.back().get());
    }
    proc_ = std::make_unique<app::Process>(*cfg_);
    if (handover) proc_->after_handover(std::move(handover->pid_fd), handover->pid_path);
    else proc_->after_bind();  // pid file lock, daemonize, drop privileges (as configured)
    for (BoundListen& b : bound)
        for (std::size_t i = 0; i < n; ++i) workers_[i]->add_listener(std::move(b.fds[i]), b.key);
    auto ignore = [](std::error_code) {};
    ignore(loop_.on_signal(SIGHUP, [this](int) { reload(); }));
    ignore(loop_.on_signal(SIGTERM, [this](int) { stop(false); }));
    ignore(loop_.on_signal(SIGINT, [this](int) { stop(false); }));
    ignore(loop_.on_signal(SIGQUIT, [this](int) { stop(true); }));
    ignore(loop_.on_signal(SIGUSR2, [this](int) { upgrade(); }));
    ignore(loop_.on_signal(SIGUSR1, [this](int) {
        HERALD_NOTICE("reopening logs");  // the last line in the old file
        if (auto ec = log::reopen()) HERALD_ERROR("reopen error log: %s", ec.message().c_str());
        HERALD_NOTICE("logs reopened");   // the first line in the new one
        for (app::Worker* w : worker_ptrs_)
            w->loop().post([w] {
                if (auto ec = w->access_log().open(w->routes().config().access_log))
                    HERALD_ERROR("reopen access log: %s", ec.message().c_str());
            });
    }));
    start_clocks();
    for (auto& w : workers_) w->start();
    HERALD_NOTICE("herald/%s started: %zu worker thread%s", HERALD_VERSION, n, n == 1 ? "" : "s");
    if (handover) {
        // The old process names this one to systemd (MAINPID) and in the pid file.
        if (auto ec = app::confirm_handover(*handover)) {
            HERALD_ERROR("upgrade: confirming to process %ld failed: %s", handover->from,
                         ec.message().c_str());
        } else {
            HERALD_NOTICE("upgrade: serving; process %ld lets go", handover->from);
            // Its live connections follow, each to the next worker in turn.
            receiver_ = std::make_unique<app::ConnectionReceiver>(
                loop_, std::move(handover->channel),
                [this](UniqueFd fd, net::LiveState&& st) {
                    workers_[next_worker_++ % workers_.size()]->post_adopt(std::move(fd),
                                                                          std::move(st));
                },
                [this](std::size_t taken, const std::string& why) {
                    if (why.empty())
                        HERALD_NOTICE("upgrade: took over %zu connection%s", taken,
                                      taken == 1 ? "" : "s");
                    else
                        HERALD_ERROR("upgrade: took over %zu connection%s, then %s", taken,
                                     taken == 1 ? "" : "s", why.c_str());
                    loop_.defer([this] { receiver_.reset(); });
                });
        }
    } else {
        notify("READY=1");
    }
    loop_.run();
    for (auto& w : workers_) w->join();
    workers_.clear();
    HERALD_NOTICE("exiting");
    return 0;
}

void Master::notify(const std::string& state) {
    if (handed_over_) return;  // systemd follows the new process now
    if (auto ec = app::notify_service_manager(state))
        HERALD_ERROR("sendto(NOTIFY_SOCKET, \"%s\"): %s", state.c_str(), ec.message().c_str());
}

// The old process's channels (memory broker), before anything serves: each continues its life
// here, ids and buffer as they were, so a client resuming from the old process misses nothing.
// A channel this config neither declares nor would autocreate is not taken (as on a reload).
void Master::adopt_channels(std::vector<app::HandedChannel>& channels) {
    if (channels.empty()) return;
    push::LocalBroker* local = memory_broker();
    if (!local) {
        HERALD_NOTICE("upgrade: %zu channels handed over not taken: the channels live in Redis",
                      channels.size());
        return;
    }
    std::size_t taken = 0, messages = 0;
    for (app::HandedChannel& c : channels) {
        if (const push::PushError e = local->may_have(c.name, false); e != push::PushError::none) {
            HERALD_NOTICE("upgrade: channel \"%s\" not taken: %s", c.name.c_str(),
                          push::to_string(e));
            continue;
        }
        if (const push::PushError e = local->adopt(c.name, c.epoch, c.last_id, c.messages);
            e != push::PushError::none) {
            HERALD_NOTICE("upgrade: channel \"%s\" not taken: %s", c.name.c_str(),
                          push::to_string(e));
            continue;
        }
        ++taken;
        messages += c.messages.size();
    }
    channels.clear();
    HERALD_NOTICE("upgrade: took over %zu channel%s with %zu buffered message%s", taken,
                  taken == 1 ? "" : "s", messages, messages == 1 ? "" : "s");
}

// SIGUSR2: start the binary at our path with our command line and hand it the listeners.
void Master::upgrade() {
    if (stopping_) {
        HERALD_NOTICE("upgrade refused: shutting down");
        return;
    }
    if (upgrade_) {
        HERALD_NOTICE("upgrade refused: one is running (new process %ld)",
                      static_cast<long>(upgrade_->pid()));
        return;
    }
    if (opts_.exe.empty()) {
        HERALD_ERROR("upgrade refused: the running binary's path is unknown");
        return;
    }
    std::vector<app::ListenSockets> listens;
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
        if (listeners_[i].empty()) continue;
        app::ListenSockets l{listeners_[i], {}};
        for (const UniqueFd& fd : held_[i]) l.fds.push_back(fd.get());
        listens.push_back(std::move(l));
    }
    HERALD_NOTICE("upgrade: starting \"%s\"", opts_.exe.c_str());
    // With the memory broker the channels move too: publishing pauses (503 + Retry-After) from
    // their snapshot until this process ends, or resumes if the upgrade fails.
    push::LocalBroker* local = memory_broker();
    std::vector<push::ChannelSnapshot> channels;
    if (local) {
        local->pause_publishing(true);
        channels = local->snapshot();
        std::size_t messages = 0;
        for (const push::ChannelSnapshot& c : channels) messages += c.messages.size();
        HERALD_NOTICE("upgrade: handing over %zu channel%s with %zu buffered message%s; "
                      "publishing paused",
                      channels.size(), channels.size() == 1 ? "" : "s", messages,
                      messages == 1 ? "" : "s");
    }
    app::UpgradeChild::Callbacks cb;
    cb.ready = [this](pid_t pid) { upgraded(pid); };
    cb.failed = [this, local](const std::string& why) {
        HERALD_ERROR("upgrade failed, still serving: the new process: %s", why.c_str());
        if (local) {
            local->pause_publishing(false);
            HERALD_NOTICE("upgrade: publishing resumed");
        }
        loop_.defer([this] { upgrade_.reset(); });
    };
    std::string error;
    upgrade_ = app::UpgradeChild::start(loop_, opts_.exe, opts_.args, listens, proc_->pid_path(),
                                        proc_->pid_fd(), channels, std::move(cb), error);
    if (!upgrade_) {
        HERALD_ERROR("upgrade failed, still serving: %s", error.c_str());
        if (local) local->pause_publishing(false);
    }
}

// The new process serves: name it in the pid file and to systemd, then stop accepting and
// end our connections the graceful way (streams with their resume signal).
void Master::upgraded(pid_t pid) {
    std::size_t sockets = 0, addresses = 0;
    for (std::size_t i = 0; i < listeners_.size(); ++i)
        if (!listeners_[i].empty()) {
            ++addresses;
            sockets += held_[i].size();
        }
    HERALD_NOTICE("upgrade: new process %ld serves; handed over %zu listening socket%s on %zu "
                  "address%s; stopping accepting and ending connections",
                  static_cast<long>(pid), sockets, sockets == 1 ? "" : "s", addresses,
                  addresses == 1 ? "" : "es");
    if (auto ec = proc_->hand_over(pid))
        HERALD_ERROR("write() pid file \"%s\" failed: %s", proc_->pid_path().c_str(),
                     ec.message().c_str());
    notify("MAINPID=" + std::to_string(pid));
    handed_over_ = true;
    auto channel = std::make_shared<UniqueFd>(upgrade_->take_channel());
    loop_.defer([this, channel] {
        upgrade_.reset();
        if (*channel && app::peer_still_reads(channel->get())) hand_over_connections(std::move(*channel));
        else stop(true);  // a new process that takes no connections: ours end the graceful way
    });
}

// The new process serves: every live connection moves to it at its next clean point (the
// workers hand them here, this thread sends them); what cannot move ends the graceful way.
void Master::hand_over_connections(UniqueFd channel) {
    stopping_ = true;
    HERALD_NOTICE("upgrade: handing over the live connections");
    handing_ = std::move(channel);
    held_.clear();
    clocks_.clear();
    clock_publishes_.clear();
    collector_ = Timer();
    for (auto& w : workers_)
        w->post_hand_over(cfg_->shutdown_timeout, [this](UniqueFd fd, net::LiveState&& st) {
            auto held = std::make_shared<std::pair<UniqueFd, net::LiveState>>(std::move(fd),
                                                                              std::move(st));
            loop_.post([this, held] { send_handed(std::move(held->first), std::move(held->second)); });
        });
    check_stopped();
}

void Master::send_handed(UniqueFd fd, net::LiveState&& st) {
    if (handing_) {
        if (auto ec = app::send_connection(handing_.get(), std::move(st), fd.get())) {
            HERALD_ERROR("upgrade: sending a connection to the new process failed (%s): the "
                         "rest are closed",
                         ec.message().c_str());
            handing_.reset();
        } else {
            ++handed_;
            return;
        }
    }
    ++hand_failed_;  // the socket closes here: its client resumes
}

void Master::stop(bool graceful) {
    if (stopping_ && graceful) return;
    stopping_ = true;
    HERALD_NOTICE(graceful ? "graceful shutdown" : "fast shutdown");
    notify("STOPPING=1");
    upgrade_.reset();  // a new process that has not confirmed goes with us
    held_.clear();     // the workers close theirs: the sockets close (unless handed over)
    clocks_.clear();
    clock_publishes_.clear();
    collector_ = Timer();
    for (auto& w : workers_) {
        if (graceful) w->post_graceful_stop(cfg_->shutdown_timeout);
        else w->post_fast_stop();
    }
    check_stopped();
}

// The master loop ends once every worker loop has returned: poll cheaply.
void Master::check_stopped() {
    for (auto& w : workers_)
        if (!w->loop_stopped()) {
            stop_poll_ = loop_.add_timer(std::chrono::milliseconds(10), [this] { check_stopped(); });
            return;
        }
    // Posted: after every connection the workers posted before they stopped.
    loop_.post([this] {
        if (handing_ || handed_ || hand_failed_) {
            if (handing_) {
                if (auto ec = app::send_end(handing_.get()))
                    HERALD_ERROR("upgrade: sending the end record failed (%s)", ec.message().c_str());
                handing_.reset();
            }
            HERALD_NOTICE("upgrade: handed over %zu connection%s (%zu closed)", handed_,
                          handed_ == 1 ? "" : "s", hand_failed_);
        }
        loop_.stop();
    });
}

// Settings that belong to the process, not to requests: a reload cannot apply them.
void warn_restart_only(const config::Config& cur, const config::Config& next) {
    if (next.worker_threads != cur.worker_threads)
        HERALD_WARN("worker_threads changes take effect on restart only (keeping %d)",
                    cur.worker_threads);
    if (next.pid_file != cur.pid_file)
        HERALD_WARN("pid changes take effect on restart only (keeping \"%s\")",
                    cur.pid_file.c_str());
    if (next.user != cur.user || next.group != cur.group || next.daemon != cur.daemon)
        HERALD_WARN("user and daemon changes take effect on restart only");
    if (next.broker != cur.broker ||
        (next.broker == config::BrokerKind::redis && next.redis != cur.redis))
        HERALD_WARN("broker and redis_* changes take effect on restart only");
}

void Master::reload() {
    if (stopping_) {  // a reload would hand listeners back to workers that are shutting down
        HERALD_NOTICE("reload ignored: shutting down");
        return;
    }
    if (upgrade_) {  // the new process is taking the listeners as they are
        HERALD_NOTICE("reload refused: an upgrade is running");
        return;
    }
    HERALD_NOTICE("reloading configuration from \"%s\"", opts_.conf.c_str());
    notify(app::reloading_state());
    std::shared_ptr<const config::Config> next;
    try {
        next = config::load_config(opts_.conf);
    } catch (const std::exception& e) {
        HERALD_ERROR("reload failed, keeping the running configuration: %s", e.what());
        notify("READY=1");
        return;
    }
    warn_restart_only(*cfg_, *next);
    std::size_t n = workers_.size();
    std::vector<BoundListen> fresh;
    std::vector<std::string> keys;
    std::vector<std::size_t> removed;
    try {
        for (const config::ListenConf& l : unique_listens(*next)) {
            std::string key = http::Router::listen_key(l);
            keys.push_back(key);
            if (std::find(listeners_.begin(), listeners_.end(), key) == listeners_.end())
                fresh.push_back(bind_listen(l, n));
        }
    } catch (const std::exception& e) {
        HERALD_ERROR("reload failed, keeping the running configuration: %s", e.what());
        notify("READY=1");
        return;
    }
    // Workers close the removed listeners (their slots stay empty) and add the fresh ones at
    // the end, in this order.
    std::vector<std::string> listeners = listeners_;
    for (std::size_t i = 0; i < listeners.size(); ++i)
        if (!listeners[i].empty() && std::find(keys.begin(), keys.end(), listeners[i]) == keys.end()) {
            removed.push_back(i);
            listeners[i].clear();
        }
    for (std::size_t i : removed) held_[i].clear();
    for (const BoundListen& b : fresh) {
        listeners.push_back(b.key);
        held_.push_back(dup_all(b.fds));
    }
    auto routes = std::make_shared<const http::Router>(next, listeners);
    broker_->reconcile(*next);
    for (std::size_t i = 0; i < n; ++i) {
        std::vector<std::pair<UniqueFd, std::string>> mine;
        mine.reserve(fresh.size());
        for (BoundListen& b : fresh) mine.emplace_back(std::move(b.fds[i]), b.key);
        workers_[i]->post_config(routes, std::move(mine), removed);
    }
    listeners_ = std::move(listeners);
    cfg_ = next;
    apply_log_settings(*cfg_);
    start_clocks();
    HERALD_NOTICE("configuration reloaded");
    notify("READY=1");
}

} // namespace
} // namespace herald

int main(int argc, char** argv) {
    using namespace herald;
    tune_allocator();
    Options opts;
    if (!parse_args(argc, argv, opts)) return 1;
    opts.args.assign(argv, argv + argc);
    opts.exe = app::executable_path(argv[0]);
    UniqueFd handover;
    try {
        handover = app::take_handover_channel();  // set when an upgrade started this process
    } catch (const std::exception& e) {
        std::fprintf(stderr, "herald: %s\n", e.what());
        return 1;
    }
    if (opts.help) {
        usage(stdout);
        return 0;
    }
    if (opts.version) {
        std::printf("herald version %s\n", HERALD_VERSION);
        return 0;
    }
    std::shared_ptr<const config::Config> cfg;
    try {
        cfg = config::load_config(opts.conf);
        if (opts.test) app::check_identity(*cfg);  // what a start would refuse, -t refuses
    } catch (const std::exception& e) {
        std::fprintf(stderr, "herald: %s\n", e.what());
        if (opts.test) std::fprintf(stderr, "herald: configuration file %s test failed\n",
                                    opts.conf.c_str());
        return 1;
    }
    if (opts.test) {
        if (!opts.quiet)
            std::fprintf(stderr, "herald: configuration file %s test is successful\n",
                         opts.conf.c_str());
        return 0;
    }
    if (!opts.signal.empty()) return app::send_signal(*cfg, opts.signal);
    try {
        Master m(cfg, opts, std::move(handover));
        return m.run();
    } catch (const std::exception& e) {
        HERALD_ERROR("%s", e.what());
        std::fprintf(stderr, "herald: %s\n", e.what());
        return 1;
    }
}
