// Unit tests for net/resolver: answers come through the asking loop, never inside resolve();
// a numeric host is its own answer; a name is looked up on the resolver thread (which takes
// no signal); a dropped ticket's callback never runs; what is neither is refused; a slow lookup
// holds neither resolve() nor the loop, and questions given up meanwhile do not pile up.
#include <criterion/criterion.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <signal.h>

#include "event/event_loop.hpp"
#include "net/resolver.hpp"

using namespace herald;

namespace {

// Runs loop until r is set, for at most 10 s.
void run_until(EventLoop& loop, const std::optional<net::Resolved>& r) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!r && std::chrono::steady_clock::now() < until) loop.run_once(10);
}

bool is_loopback(const net::Address& a) {
    if (a.storage.sa.sa_family == AF_INET)
        return (ntohl(a.storage.v4.sin_addr.s_addr) >> 24) == 127;
    return a.storage.sa.sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&a.storage.v6.sin6_addr);
}

} // namespace

Test(net_resolver, a_numeric_host_is_answered_through_the_loop) {
    EventLoop loop;
    std::optional<net::Resolved> got;
    net::ResolveTicket t = net::resolve(loop, "127.0.0.1", 6379, [&](net::Resolved r) { got = r; });
    cr_assert(!got, "never inside resolve()");
    run_until(loop, got);
    cr_assert(got);
    cr_assert_str_eq(got->error.c_str(), "");
    cr_assert_eq(got->addresses.size(), 1u);
    const std::string first = got->addresses[0].to_string();
    cr_assert_str_eq(first.c_str(), "127.0.0.1:6379");

    got.reset();
    t = net::resolve(loop, "::1", 80, [&](net::Resolved r) { got = r; });
    run_until(loop, got);
    cr_assert(got && got->addresses.size() == 1);
    const std::string v6 = got->addresses[0].to_string();
    cr_assert_str_eq(v6.c_str(), "[::1]:80");
}

Test(net_resolver, localhost_resolves_to_loopback_with_the_port) {
    EventLoop loop;
    std::optional<net::Resolved> got;
    net::ResolveTicket t = net::resolve(loop, "localhost", 7000, [&](net::Resolved r) { got = r; });
    cr_assert(!got);
    run_until(loop, got);
    cr_assert(got, "answered");
    cr_assert_str_eq(got->error.c_str(), "");
    cr_assert(!got->addresses.empty());
    for (const net::Address& a : got->addresses) {
        const std::string text = a.to_string();
        cr_expect(is_loopback(a), "%s", text.c_str());
        cr_expect_eq(a.port(), 7000);
    }
}

Test(net_resolver, neither_name_nor_address_is_refused_without_a_lookup) {
    EventLoop loop;
    for (const char* bad : {"redis_1", "", "10.0.0.256", "a b", "[::1]"}) {
        std::optional<net::Resolved> got;
        net::ResolveTicket t = net::resolve(loop, bad, 1, [&](net::Resolved r) { got = r; });
        run_until(loop, got);
        cr_assert(got, "%s answered", bad);
        cr_expect(got->addresses.empty(), "%s", bad);
        cr_expect_str_eq(got->error.c_str(), "not a host name or numeric address", "%s", bad);
    }
}

// Dropped before the loop ran: the answer (already posted for a numeric host, on its way for
// a name) is never delivered.
Test(net_resolver, a_dropped_ticket_is_never_answered) {
    EventLoop loop;
    int calls = 0;
    for (const char* host : {"127.0.0.1", "localhost"}) {
        net::ResolveTicket t = net::resolve(loop, host, 1, [&](net::Resolved) { ++calls; });
        t.reset();
        cr_assert(!t);
    }
    // A later question is answered: the dropped ones were behind it or skipped.
    std::optional<net::Resolved> got;
    net::ResolveTicket t = net::resolve(loop, "localhost", 2, [&](net::Resolved r) { got = r; });
    run_until(loop, got);
    cr_assert(got);
    for (int i = 0; i < 20; ++i) loop.run_once(10);
    cr_assert_eq(calls, 0);
}

// The resolver thread, named herald-resolve, blocks every signal: a SIGTERM for the process
// goes to the thread that reads signals, never to it.
Test(net_resolver, the_resolver_thread_blocks_every_signal) {
    EventLoop loop;
    std::optional<net::Resolved> got;
    net::ResolveTicket t = net::resolve(loop, "localhost", 1, [&](net::Resolved r) { got = r; });
    run_until(loop, got);
    cr_assert(got);
    int found = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string name;
        std::getline(comm, name);
        if (name != "herald-resolve") continue;
        ++found;
        std::ifstream status(task.path() / "status");
        std::string line;
        unsigned long long blocked = 0;
        while (std::getline(status, line))
            if (line.rfind("SigBlk:", 0) == 0) blocked = std::stoull(line.substr(7), nullptr, 16);
        for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2})
            cr_expect(blocked & (1ULL << (sig - 1)), "signal %d blocked", sig);
    }
    cr_assert_eq(found, 1, "one resolver thread");
}

namespace {

// A lookup that waits until released (a name server that does not answer), then gives
// 127.0.0.1.
std::atomic<bool> g_release{false};
std::atomic<int> g_slow_calls{0};
net::Resolved slow_lookup(const std::string&, std::uint16_t port) {
    ++g_slow_calls;
    while (!g_release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    net::Resolved r;
    net::Address a;
    (void)net::make_address("127.0.0.1", port, a);
    r.addresses.push_back(a);
    return r;
}

} // namespace

// While the resolver thread waits on a name server, resolve() returns at once and the loop
// runs on (its timers fire); questions given up meanwhile do not pile up in the queue.
Test(net_resolver, a_slow_lookup_never_holds_the_loop_and_given_up_questions_go,
     .timeout = 20.0) {
    net::detail::set_lookup_for_tests(slow_lookup);
    EventLoop loop;
    std::optional<net::Resolved> got;
    net::ResolveTicket kept = net::resolve(loop, "slow.example", 7, [&](net::Resolved r) { got = r; });
    while (g_slow_calls.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    bool fired = false;
    Timer t = loop.add_timer(std::chrono::milliseconds(20), [&] { fired = true; });
    for (int i = 0; i < 100 && !fired; ++i) loop.run_once(10);
    cr_assert(fired, "the loop ran its timer while the lookup waited");
    cr_assert(!got);
    int given_up_calls = 0;
    for (int i = 0; i < 1000; ++i) {
        net::ResolveTicket gone =
            net::resolve(loop, "given-up.example", 1, [&](net::Resolved) { ++given_up_calls; });
    }
    cr_assert_leq(net::detail::queued_for_tests(), 1u, "one given-up question waits, not 1000");
    g_release.store(true);
    run_until(loop, got);
    net::detail::set_lookup_for_tests(nullptr);
    cr_assert(got && got->addresses.size() == 1);
    for (int i = 0; i < 20; ++i) loop.run_once(5);
    cr_assert_eq(given_up_calls, 0);
    cr_assert_eq(g_slow_calls.load(), 1, "given-up questions are never looked up");
}
