// wsload: herald's load generator for WebSocket (RFC 6455), SSE, long-polling and raw TCP.
// Modes:
//   echo       N connections, D messages in flight each: messages/s and round trip p50/p99/p99.9
//              (ws:// with masked frames, or raw:// fixed-size messages for the TCP ceiling)
//   subscribe  N ws/sse/long-poll subscribers; with --publish it also POSTs {"n":SEQ,"t":NS}
//              messages at --rate for --duration and reports deliveries/s, latency, missing
//   publish    only the paced publisher
//   idle       opens N ws/sse connections and holds them (--rss-pid: server RSS per connection)
// One epoll loop per thread (--threads), non-blocking sockets, connects paced by --connect-batch.
// Prints a human summary, then one machine-readable line starting with "result ".
// Build: g++ -O2 -std=c++20 -Wall -Wextra -Werror -Iinclude tools/wsload.cpp src/deflate/inflater.cpp
//        src/deflate/deflater.cpp src/ws/deflate_frame.cpp -o build/tools/wsload
//        (tools/bench/lib.sh does)
// (one translation unit; the pieces live in tools/wsload/*.hpp).

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <dirent.h>
#include <sys/resource.h>

#include "wsload/redis_floor.hpp"
#include "wsload/worker_modes.hpp"

namespace wsload {
namespace {

volatile std::sig_atomic_t interrupted = 0;

void on_signal(int) { interrupted = 1; }

// CPU time of every thread of `pid` in nanoseconds (sum of /proc/PID/task/*/schedstat), falling
// back to utime+stime ticks from /proc/PID/stat. -1 if the process is gone.
std::int64_t cpu_ns(int pid) {
    const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
    if (DIR* d = opendir(task_dir.c_str())) {
        std::int64_t sum = 0;
        bool any = false;
        while (dirent* e = readdir(d)) {
            if (e->d_name[0] == '.') continue;
            std::ifstream f(task_dir + "/" + e->d_name + "/schedstat");
            std::int64_t ns = 0;
            if (f >> ns) {
                sum += ns;
                any = true;
            }
        }
        closedir(d);
        if (any) return sum;
    }
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) return -1;
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    std::int64_t utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoll(field);
        if (i == 15) stime = std::stoll(field);
    }
    return (utime + stime) * (1000000000 / sysconf(_SC_CLK_TCK));
}

std::vector<std::int64_t> cpu_ns(const std::vector<int>& pids) {
    std::vector<std::int64_t> each;
    for (int pid : pids) each.push_back(std::max<std::int64_t>(0, cpu_ns(pid)));
    return each;
}

// CPU used since `before` (from cpu_ns(pids)): per process, and the sum.
std::int64_t cpu_since(const std::vector<int>& pids, const std::vector<std::int64_t>& before,
                       std::vector<std::int64_t>& each) {
    each = cpu_ns(pids);
    std::int64_t sum = 0;
    for (std::size_t i = 0; i < each.size(); ++i) {
        each[i] -= before[i];
        sum += each[i];
    }
    return sum;
}

long rss_kb(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string key;
    long kb = -1;
    while (f >> key) {
        if (key == "VmRSS:") {
            f >> kb;
            break;
        }
    }
    return kb;
}

void sleep_until(std::int64_t t) {
    while (!interrupted) {
        const std::int64_t left = t - mono_ns();
        if (left <= 0) return;
        std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::int64_t>(left, 10000000)));
    }
}

// Waits while `busy()` holds, up to `limit` (monotonic ns) or an interrupt.
template <class Pred>
void wait_while(Pred busy, std::int64_t limit) {
    while (!interrupted && busy() && mono_ns() < limit)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

constexpr std::int64_t sec_ns(double s) { return static_cast<std::int64_t>(s * 1e9); }

const char* proto_name(Proto p) {
    switch (p) {
    case Proto::ws: return "ws";
    case Proto::raw: return "raw";
    case Proto::sse: return "sse";
    case Proto::longpoll: return "longpoll";
    }
    return "?";
}

struct Run {
    std::int64_t connected_ns = 0;     // when all connections were up (or the timeout hit)
    std::int64_t window_from = 0;
    std::int64_t window_to = 0;
    std::int64_t cpu_used = -1;        // server CPU over the window, ns; -1 without --cpu-pid
    std::vector<std::int64_t> cpu_each;  // the same per --cpu-pid
    // Subscribe mode: each --cpu-pid's CPU over the settle pause (everyone subscribed, nothing
    // published yet), so a report can take a process's idle work (redis-server's timers, for
    // one) out of what the window's publishes cost.
    std::int64_t idle_ns = 0;
    std::vector<std::int64_t> idle_each;
    long rss_before = -1;
    long rss_after = -1;
    bool failed = false;               // nothing connected: exit status 1
};

void raise_fd_limit(const Options& o) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (o.conns + 64 > rl.rlim_cur)
        std::fprintf(stderr, "wsload: warning: %u connections but the fd limit is %llu\n", o.conns,
                     static_cast<unsigned long long>(rl.rlim_cur));
}

// The main thread's part: phases by wall-clock deadlines; workers read them from Shared.
void orchestrate(const Options& o, Shared& sh, Run& run) {
    const std::int64_t t0 = mono_ns();
    wait_while([&] {
        return sh.ready.load() + sh.gave_up.load() < o.conns || (o.has_publisher && !sh.publisher_ready.load());
    }, t0 + sec_ns(o.connect_timeout));
    run.connected_ns = mono_ns();
    if (!o.quiet)
        std::fprintf(stderr, "wsload: %llu/%u connected in %.2f s\n",
                     static_cast<unsigned long long>(sh.ready.load()), o.conns,
                     static_cast<double>(run.connected_ns - t0) / 1e9);
    if ((o.conns > 0 && sh.ready.load() == 0) || (o.has_publisher && !sh.publisher_ready.load())) {
        std::fprintf(stderr, "wsload: nothing to measure: no connection is up\n");
        run.failed = true;
        return;
    }
    if (o.mode == Mode::echo) {
        const std::int64_t start = mono_ns();
        run.window_from = start + sec_ns(o.warmup);
        run.window_to = run.window_from + sec_ns(o.duration);
        sh.measure_from_ns.store(run.window_from);
        sh.measure_to_ns.store(run.window_to);
        sh.start_ns.store(start, std::memory_order_release);
        sleep_until(run.window_from);
        const std::vector<std::int64_t> cpu0 = cpu_ns(o.cpu_pids);
        sleep_until(run.window_to);
        run.cpu_used = cpu_since(o.cpu_pids, cpu0, run.cpu_each);
        return;
    }
    if (o.mode == Mode::idle) {
        sleep_until(mono_ns() + sec_ns(o.settle));
        if (o.rss_pid) run.rss_after = rss_kb(o.rss_pid);
        std::printf("established %llu\n", static_cast<unsigned long long>(sh.ready.load()));
        std::fflush(stdout);
        sleep_until(mono_ns() + sec_ns(o.duration));
        return;
    }
    if (o.mode == Mode::subscribe) {
        const std::vector<std::int64_t> settle0 = cpu_ns(o.cpu_pids);
        const std::int64_t from = mono_ns();
        sleep_until(from + sec_ns(o.settle));
        (void)cpu_since(o.cpu_pids, settle0, run.idle_each);
        run.idle_ns = mono_ns() - from;
    }
    const std::vector<std::int64_t> cpu0 = cpu_ns(o.cpu_pids);
    run.window_from = mono_ns();
    sh.start_ns.store(run.window_from, std::memory_order_release);
    if (!o.has_publisher) {
        sleep_until(run.window_from + sec_ns(o.duration));
    } else {
        const std::int64_t publish_end = run.window_from + sec_ns(o.duration);
        wait_while([&] { return !sh.publish_done.load(); }, publish_end + sec_ns(o.grace));
        if (o.mode == Mode::subscribe) {
            const std::uint64_t subscribers = sh.ready.load();
            wait_while([&] { return sh.delivered.load() < subscribers * sh.published.load() *
                                                                o.sub_channels / o.publish_channels; },
                       std::max(mono_ns(), publish_end) + sec_ns(o.grace));
        }
    }
    run.window_to = mono_ns();
    run.cpu_used = cpu_since(o.cpu_pids, cpu0, run.cpu_each);
}

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }
double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

// Server CPU over the window, per unit of work: a human line (before the result line) or the
// result line's fields.
void print_cpu(const Options& o, const Run& run, std::uint64_t units, const char* unit, bool human) {
    if (o.cpu_pids.empty() || run.cpu_used < 0) return;
    const double secs = static_cast<double>(run.cpu_used) / 1e9;
    const double per = units ? static_cast<double>(run.cpu_used) / 1e3 / static_cast<double>(units) : 0;
    if (!human) {
        std::printf(" server_cpu_s=%.3f cpu_us_per_%s=%.3f", secs, unit, per);
        for (std::size_t i = 0; i < run.cpu_each.size(); ++i)
            std::printf(" cpu_s_%d=%.3f", o.cpu_pids[i], static_cast<double>(run.cpu_each[i]) / 1e9);
        std::printf(" window_s=%.3f", static_cast<double>(run.window_to - run.window_from) / 1e9);
        if (run.idle_ns > 0) {
            std::printf(" idle_s=%.3f", static_cast<double>(run.idle_ns) / 1e9);
            for (std::size_t i = 0; i < run.idle_each.size(); ++i)
                std::printf(" idle_cpu_s_%d=%.6f", o.cpu_pids[i],
                            static_cast<double>(run.idle_each[i]) / 1e9);
        }
    }
    else if (!o.quiet) std::printf("  server cpu  %.2f s, %.3f us per %s\n", secs, per, unit);
}

void report(const Options& o, const Shared& sh, const Stats& s, const Run& run) {
    const std::uint64_t errors = s.connect_errors + s.handshake_errors + s.protocol_errors + s.http_errors;
    const auto ready = static_cast<unsigned long long>(sh.ready.load());
    const auto ull = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
    if (!o.quiet)
        std::printf("wsload %s %s %s://%s:%u%s  conns %llu/%u  errors: connect %llu handshake %llu "
                    "protocol %llu http %llu, closed by server %llu\n",
                    o.mode == Mode::echo ? "echo" : o.mode == Mode::subscribe ? "subscribe"
                    : o.mode == Mode::publish ? "publish" : "idle",
                    o.mode == Mode::publish ? "POST" : proto_name(o.proto), o.url.scheme.c_str(),
                    o.url.host.c_str(), o.url.port, o.url.target.c_str(), ready, o.conns,
                    ull(s.connect_errors), ull(s.handshake_errors), ull(s.protocol_errors), ull(s.http_errors),
                    ull(s.peer_closed));
    const double window = static_cast<double>(run.window_to - run.window_from) / 1e9;
    if (o.mode == Mode::echo) {
        const double rate = window > 0 ? static_cast<double>(s.received) / window : 0;
        if (!o.quiet)
            std::printf("  %u x %u in flight, %zu B: %.0f msg/s  rtt p50 %.1f us  p99 %.1f us  p99.9 %.1f us  "
                        "max %.1f us\n", o.conns, o.inflight, o.size, rate, us(s.latency.percentile(50)),
                        us(s.latency.percentile(99)), us(s.latency.percentile(99.9)), us(s.latency.max()));
        print_cpu(o, run, s.received, "msg", true);
        std::printf("result mode=echo proto=%s conns=%llu inflight=%u size=%zu msgs=%llu msgs_per_s=%.0f "
                    "p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%llu closed=%llu",
                    proto_name(o.proto), ready, o.inflight, o.size, ull(s.received), rate,
                    us(s.latency.percentile(50)), us(s.latency.percentile(99)), us(s.latency.percentile(99.9)),
                    us(s.latency.max()), ull(errors), ull(s.peer_closed));
        std::printf(" bytes_in=%llu", ull(s.bytes_in));
        print_cpu(o, run, s.received, "msg", false);
    } else if (o.mode == Mode::subscribe) {
        const std::uint64_t published = sh.published.load();
        // Each subscriber follows sub_channels of the publish_channels published to in turn.
        const std::uint64_t expected = sh.ready.load() * published * o.sub_channels / o.publish_channels;
        // Over the publishing time, or longer if deliveries trailed past its end.
        const std::int64_t last = std::max(s.last_delivery_ns, run.window_from);
        const double span = std::max(static_cast<double>(last - run.window_from) / 1e9,
                                     o.has_publisher ? o.duration : 0.0);
        const double rate = span > 0 ? static_cast<double>(s.deliveries) / span : 0;
        const std::uint64_t missing = o.has_publisher && expected > s.deliveries ? expected - s.deliveries : 0;
        if (!o.quiet)
            std::printf("  published %llu (%llu errors, %llu late), delivered %llu of %llu, missing %llu, "
                        "%.0f deliveries/s\n  latency p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms\n",
                        ull(published), ull(s.pub_errors), ull(s.pub_late), ull(s.deliveries), ull(expected),
                        ull(missing), rate, ms(s.latency.percentile(50)), ms(s.latency.percentile(99)),
                        ms(s.latency.percentile(99.9)), ms(s.latency.max()));
        print_cpu(o, run, s.deliveries, "delivery", true);
        std::printf("result mode=subscribe proto=%s subs=%llu published=%llu expected=%llu delivered=%llu "
                    "missing=%llu dups=%llu missed_signals=%llu unparsed=%llu deliveries_per_s=%.0f "
                    "p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f polls=%llu poll_timeouts=%llu "
                    "errors=%llu closed=%llu pub_errors=%llu",
                    proto_name(o.proto), ready, ull(published), ull(expected), ull(s.deliveries), ull(missing),
                    ull(s.duplicates), ull(s.missed_signals), ull(s.unparsed), rate, ms(s.latency.percentile(50)),
                    ms(s.latency.percentile(99)), ms(s.latency.percentile(99.9)), ms(s.latency.max()),
                    ull(s.polls), ull(s.poll_timeouts), ull(errors), ull(s.peer_closed), ull(s.pub_errors));
        std::printf(" bytes_in=%llu bytes_per_delivery=%.1f inflated=%llu", ull(s.bytes_in),
                    s.deliveries ? static_cast<double>(s.bytes_in) / static_cast<double>(s.deliveries) : 0.0,
                    ull(s.inflated));
        print_cpu(o, run, s.deliveries, "delivery", false);
    } else if (o.mode == Mode::publish) {
        if (!o.quiet)
            std::printf("  published %llu in %.2f s (%llu errors, %llu late), POST rtt p50 %.2f ms p99 %.2f ms\n",
                        ull(s.pub_ok), window, ull(s.pub_errors), ull(s.pub_late), ms(s.pub_rtt.percentile(50)),
                        ms(s.pub_rtt.percentile(99)));
        print_cpu(o, run, s.pub_ok, "publish", true);
        std::printf("result mode=publish published=%llu errors=%llu late=%llu seconds=%.2f pub_p50_ms=%.2f "
                    "pub_p99_ms=%.2f", ull(s.pub_ok), ull(s.pub_errors), ull(s.pub_late), window,
                    ms(s.pub_rtt.percentile(50)), ms(s.pub_rtt.percentile(99)));
        print_cpu(o, run, s.pub_ok, "publish", false);
    } else {
        const double per = run.rss_before >= 0 && run.rss_after >= 0 && ready
                               ? static_cast<double>(run.rss_after - run.rss_before) / static_cast<double>(ready)
                               : -1;
        if (!o.quiet && per >= 0)
            std::printf("  server rss %ld kB -> %ld kB: %.2f kB per connection\n", run.rss_before, run.rss_after, per);
        std::printf("result mode=idle proto=%s conns=%llu rss_before_kb=%ld rss_after_kb=%ld kb_per_conn=%.2f "
                    "errors=%llu closed=%llu", proto_name(o.proto), ready, run.rss_before, run.rss_after, per,
                    ull(errors), ull(s.peer_closed));
    }
}

int run_main(int argc, char** argv) {
    const Options o = parse_options(argc, argv);
    raise_fd_limit(o);
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    Shared sh(o);
    Run run;
    if (o.rss_pid) run.rss_before = rss_kb(o.rss_pid);
    std::vector<std::vector<std::uint32_t>> shares(o.threads);
    for (std::uint32_t i = 0; i < o.conns; ++i) shares[i % o.threads].push_back(i);
    std::vector<std::unique_ptr<Worker>> workers;
    for (unsigned t = 0; t < o.threads; ++t) workers.push_back(std::make_unique<Worker>(sh, shares[t], false));
    if (o.has_publisher) workers.push_back(std::make_unique<Worker>(sh, std::vector<std::uint32_t>{}, true));
    std::unique_ptr<RedisFloor> floor;
    if (o.redis_floor_port) {
        floor = std::make_unique<RedisFloor>(o.redis_floor_port, o.redis_floor_nodes, o.size);
        if (!floor->ready()) return 1;
        floor->start(sh, o.rate, o.duration);
    }
    std::vector<std::thread> threads;
    for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
    orchestrate(o, sh, run);
    sh.stop.store(true);
    for (auto& t : threads) t.join();
    if (floor) floor->join();
    Stats total;
    for (auto& w : workers) {
        const Stats& s = w->stats;
        total.connect_errors += s.connect_errors;
        total.handshake_errors += s.handshake_errors;
        total.peer_closed += s.peer_closed;
        total.protocol_errors += s.protocol_errors;
        total.sent += s.sent;
        total.received += s.received;
        total.received_all += s.received_all;
        total.deliveries += s.deliveries;
        total.duplicates += s.duplicates;
        total.unparsed += s.unparsed;
        total.missed_signals += s.missed_signals;
        total.polls += s.polls;
        total.poll_timeouts += s.poll_timeouts;
        total.http_errors += s.http_errors;
        total.pub_sent += s.pub_sent;
        total.pub_ok += s.pub_ok;
        total.pub_errors += s.pub_errors;
        total.pub_late += s.pub_late;
        total.bytes_in += s.bytes_in;
        total.inflated += s.inflated;
        total.last_delivery_ns = std::max(total.last_delivery_ns, s.last_delivery_ns);
        total.latency.merge(s.latency);
        total.pub_rtt.merge(s.pub_rtt);
    }
    report(o, sh, total, run);
    if (floor) {  // after the result line's other fields, on the same line
        std::printf(" floor_published=%llu floor_failed=%d", static_cast<unsigned long long>(floor->published()),
                    floor->failed() ? 1 : 0);
    }
    std::printf("\n");
    return interrupted ? 130 : run.failed ? 1 : 0;
}

} // namespace
} // namespace wsload

int main(int argc, char** argv) {
    try {
        return wsload::run_main(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "wsload: %s\n", e.what());
        return 1;
    }
}
