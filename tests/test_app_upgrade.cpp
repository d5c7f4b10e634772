// Unit tests for src/app/upgrade.cpp over real sockets and processes: the old side's records
// pair with the new side's reader (the listeners in order, split over several records past
// max_handover_fds, the pid file); the reader gives up after its timeout; an UpgradeChild
// reports a confirming process ready, and kills and reaps one that exits or does not confirm
// within its timeout.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "app/handover.hpp"
#include "app/upgrade.hpp"
#include "core/unique_fd.hpp"
#include "event/event_loop.hpp"
#include "net/socket.hpp"
#include "push/message.hpp"

using herald::Duration;
using herald::EventLoop;
using herald::UniqueFd;
using herald::app::encode_record;
using herald::app::Handover;
using herald::app::ListenSockets;
using herald::app::max_handover_fds;
using herald::app::receive_handover;
using herald::app::Record;
using herald::app::RecordType;
using herald::app::send_handover;
using herald::app::UpgradeChild;

namespace {

ino_t inode(int fd) {
    struct stat st {};
    cr_assert_eq(::fstat(fd, &st), 0, "fstat(%d)", fd);
    return st.st_ino;
}

struct Pair {
    UniqueFd a, b;
    Pair() {
        int sv[2];
        cr_assert_eq(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        a.reset(sv[0]);
        b.reset(sv[1]);
    }
};

// A pipe whose write end is sent; the read end stays here (the same inode).
int new_pipe(std::vector<UniqueFd>& keep) {
    int p[2];
    cr_assert_eq(::pipe(p), 0);
    keep.emplace_back(p[0]);
    keep.emplace_back(p[1]);
    return p[1];
}

std::string receive_error(UniqueFd channel, Duration timeout) {
    try {
        (void)receive_handover(std::move(channel), timeout);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "no error";
}

struct Outcome {
    bool ready = false, failed = false;
    pid_t ready_pid = 0;
    std::string why;
};

std::unique_ptr<UpgradeChild> start_child(EventLoop& loop, Outcome& out,
                                          const std::vector<std::string>& args,
                                          Duration confirm_timeout) {
    UpgradeChild::Callbacks cb;
    cb.ready = [&out](pid_t pid) {
        out.ready = true;
        out.ready_pid = pid;
    };
    cb.failed = [&out](const std::string& why) {
        out.failed = true;
        out.why = why;
    };
    std::string error;
    auto child = UpgradeChild::start(loop, args[0], args, {}, "", -1, {}, std::move(cb), error,
                                     confirm_timeout);
    cr_assert(child, "start: %s", error.c_str());
    return child;
}

// Runs the loop until a callback ran, at most 10 s.
void run_until_done(EventLoop& loop, const Outcome& out) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!out.ready && !out.failed && std::chrono::steady_clock::now() < until)
        loop.run_once(50);
}

bool reaped(pid_t pid) { return ::waitpid(pid, nullptr, WNOHANG) < 0 && errno == ECHILD; }

} // namespace

Test(upgrade, records_pair_with_the_reader, .timeout = 10.0) {
    std::vector<UniqueFd> keep;
    ListenSockets big{"127.0.0.1:8080", {}}, one{"[::1]:80", {}};
    for (std::size_t i = 0; i < max_handover_fds + 2; ++i) big.fds.push_back(new_pipe(keep));
    one.fds.push_back(new_pipe(keep));
    const int pid_fd = new_pipe(keep);
    Pair p;
    cr_assert(!send_handover(p.a.get(), {big, one}, "/run/herald.pid", pid_fd));
    Handover h = receive_handover(std::move(p.b), Duration(2'000));
    cr_assert_eq(h.listeners.size(), 2U);
    cr_assert(h.listeners[0].first == big.key && h.listeners[1].first == one.key);
    cr_assert_eq(h.listeners[0].second.size(), big.fds.size());
    for (std::size_t i = 0; i < big.fds.size(); ++i) {
        cr_assert_eq(inode(h.listeners[0].second[i].get()), inode(big.fds[i]), "socket %zu", i);
        cr_assert(::fcntl(h.listeners[0].second[i].get(), F_GETFD) & FD_CLOEXEC);
    }
    cr_assert_eq(h.listeners[1].second.size(), 1U);
    cr_assert_eq(inode(h.listeners[1].second[0].get()), inode(one.fds[0]));
    cr_assert(h.pid_path == "/run/herald.pid");
    cr_assert_eq(inode(h.pid_fd.get()), inode(pid_fd));
    cr_assert_eq(h.from, static_cast<long>(::getpid()));
    cr_assert(h.channel);
}

Test(upgrade, no_listeners_and_no_pid_file, .timeout = 10.0) {
    Pair p;
    cr_assert(!send_handover(p.a.get(), {}, "/ignored", -1));
    Handover h = receive_handover(std::move(p.b), Duration(2'000));
    cr_assert(h.listeners.empty() && h.pid_path.empty() && !h.pid_fd);
}

Test(upgrade, reader_gives_up_after_its_timeout, .timeout = 10.0) {
    Pair p;  // a.get() stays open and says nothing
    const auto t0 = std::chrono::steady_clock::now();
    const std::string why = receive_error(std::move(p.b), Duration(200));
    const auto took = std::chrono::steady_clock::now() - t0;
    cr_assert(why == "upgrade: no record from the old process within 200 ms", "%s", why.c_str());
    cr_assert(took >= std::chrono::milliseconds(150) && took < std::chrono::seconds(3));
}

Test(upgrade, reader_refuses_a_closed_socket, .timeout = 10.0) {
    Pair p;
    p.a.reset();
    const std::string why = receive_error(std::move(p.b), Duration(2'000));
    cr_assert(why == "upgrade: the old process closed the upgrade socket", "%s", why.c_str());
}

Test(upgrade, child_that_confirms_is_ready, .timeout = 20.0) {
    EventLoop loop;
    Outcome out;
    auto child = start_child(
        loop, out,
        {"/usr/bin/python3", "-c",
         "import os, time\n"
         "os.write(int(os.environ['HERALD_UPGRADE_FD']), bytes([0,1,0,4,0,0,0,4,0,0,0,42]))\n"
         "time.sleep(30)\n"},
        Duration(10'000));
    const pid_t pid = child->pid();
    run_until_done(loop, out);
    cr_assert(out.ready && !out.failed, "%s", out.why.c_str());
    cr_assert_eq(out.ready_pid, pid);
    child.reset();  // it serves now: nothing to kill
    cr_assert_eq(::kill(pid, 0), 0);
    ::kill(pid, SIGKILL);
    cr_assert_eq(::waitpid(pid, nullptr, 0), pid);
}

Test(upgrade, child_that_never_confirms_is_killed_and_reaped, .timeout = 20.0) {
    const auto t0 = std::chrono::steady_clock::now();
    EventLoop loop;
    Outcome out;
    auto child = start_child(loop, out, {"/bin/sh", "-c", "exec sleep 30"}, Duration(200));
    const pid_t pid = child->pid();
    run_until_done(loop, out);
    cr_assert(out.failed && !out.ready);
    cr_assert(out.why == "it did not confirm within 200 ms; it was killed by signal 9", "%s",
              out.why.c_str());
    cr_assert(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(200));
    cr_assert(reaped(pid));
}

Test(upgrade, child_that_exits_is_reaped_with_its_status, .timeout = 20.0) {
    EventLoop loop;
    Outcome out;
    auto child = start_child(loop, out, {"/bin/sh", "-c", "exit 3"}, Duration(10'000));
    const pid_t pid = child->pid();
    run_until_done(loop, out);
    cr_assert(out.failed && !out.ready);
    cr_assert(out.why.find("; it exited with status 3") != std::string::npos, "%s",
              out.why.c_str());
    cr_assert(reaped(pid));
}

namespace {

std::shared_ptr<const herald::push::Message> message(std::uint64_t epoch, std::uint64_t id,
                                                     std::string data, std::string type = "",
                                                     std::string event = "") {
    auto m = std::make_shared<herald::push::Message>("c", std::move(data), std::move(type),
                                                     std::move(event));
    m->id = id;
    m->epoch = epoch;
    m->published_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1765000000000 + id));
    return m;
}

} // namespace

// The memory broker's channels travel as records the reader turns back into messages: every
// field, several channels, one with nothing buffered, and more bytes than the socket holds
// (the sender blocks until the reader takes them, as the new process does).
namespace {
// The channels sent by one side of a socket pair (a thread) and read by the other.
Handover hand_channels(const std::vector<herald::push::ChannelSnapshot>& channels) {
    Pair p;
    std::error_code sent;
    std::thread sender([&] { sent = send_handover(p.a.get(), {}, "", -1, channels); });
    Handover h = receive_handover(std::move(p.b), Duration(5'000));
    sender.join();
    cr_assert(!sent, "%s", sent.message().c_str());
    return h;
}
} // namespace

Test(upgrade, channels_pair_with_the_reader, .timeout = 20.0) {
    std::vector<herald::push::ChannelSnapshot> channels(3);
    channels[0] = {"chat", 0xabc, 12, {}};
    for (std::uint64_t id = 10; id <= 12; ++id)
        channels[0].messages.push_back(message(0xabc, id, std::string("m\0\xff", 3) + std::to_string(id),
                                               id == 11 ? "application/octet-stream" : "text/plain",
                                               id == 12 ? "tick" : ""));
    channels[1] = {"quiet", 0xdef, 0, {}};
    channels[2] = {"bulk", 0x123, 3000, {}};
    for (std::uint64_t id = 1; id <= 3000; ++id)
        channels[2].messages.push_back(message(0x123, id, std::string(1024, 'x')));
    Handover h = hand_channels(channels);
    cr_assert_eq(h.channels.size(), 3U);
    for (std::size_t i = 0; i < 3; ++i) {
        const auto& want = channels[i];
        const auto& got = h.channels[i];
        cr_assert(got.name == want.name && got.epoch == want.epoch && got.last_id == want.last_id,
                  "channel %zu", i);
        cr_assert_eq(got.messages.size(), want.messages.size(), "channel %zu", i);
        for (std::size_t j = 0; j < want.messages.size(); ++j) {
            const auto& a = *want.messages[j];
            const auto& b = *got.messages[j];
            cr_assert(a.id == b.id && a.epoch == b.epoch && a.data == b.data &&
                          a.content_type == b.content_type && a.event == b.event &&
                          a.published_at == b.published_at && b.channel == want.name,
                      "channel %zu message %zu", i, j);
        }
    }
}

// A broken sequence of channel records is refused: ids not contiguous, or the end before
// every message announced.
Test(upgrade, reader_refuses_broken_channel_records, .timeout = 10.0) {
    auto run = [](const std::vector<Record>& records) {
        Pair p;
        std::string bytes;
        for (const Record& r : records) bytes += encode_record(r);
        cr_assert(!herald::net::send_with_fds(p.a.get(), bytes, {}));
        return receive_error(std::move(p.b), Duration(2'000));
    };
    Record ch{RecordType::channel, "c", 2};
    ch.epoch = 1;
    ch.id = 5;
    Record m4{RecordType::message, "", 0};
    m4.id = 4;
    Record m5 = m4;
    m5.id = 5;
    Record end{RecordType::end, "", 1};
    cr_expect(run({ch, m5, m4, end}) == "upgrade: unexpected record from the old process");
    cr_expect(run({ch, m4, end}) == "upgrade: unexpected record from the old process");
    cr_expect(run({m4, end}) == "upgrade: unexpected record from the old process");
}

// Channels larger than the socket's buffer to a process that never reads them: the blocking
// send gives up after the confirm timeout (it would otherwise hold the master's thread), and
// the process is killed and reaped.
Test(upgrade, channels_to_a_child_that_never_reads, .timeout = 20.0) {
    std::vector<herald::push::ChannelSnapshot> channels(1);
    channels[0] = {"bulk", 7, 4000, {}};
    for (std::uint64_t id = 1; id <= 4000; ++id)
        channels[0].messages.push_back(message(7, id, std::string(1024, 'x')));
    EventLoop loop;
    Outcome out;
    UpgradeChild::Callbacks cb;
    cb.ready = [&out](pid_t) { out.ready = true; };
    cb.failed = [&out](const std::string& why) {
        out.failed = true;
        out.why = why;
    };
    std::string error;
    const std::vector<std::string> args{"/bin/sh", "-c", "exec sleep 30"};
    const auto t0 = std::chrono::steady_clock::now();
    auto child = UpgradeChild::start(loop, args[0], args, {}, "", -1, channels, std::move(cb),
                                     error, Duration(300));
    cr_assert(child, "start: %s", error.c_str());
    const pid_t pid = child->pid();
    run_until_done(loop, out);
    cr_assert(out.failed && !out.ready);
    cr_assert(out.why.rfind("sending the listening sockets and channels failed (", 0) == 0, "%s",
              out.why.c_str());
    cr_assert(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(250));
    cr_assert(reaped(pid));
}

// A message that does not fit a record (here its type, past 65535 bytes) is not handed over,
// nor are the older ones of its channel: the channel arrives with the newest contiguous run,
// its life and newest id unchanged (a client resuming before the run is told it missed).
Test(upgrade, a_message_that_does_not_fit_ends_the_handed_run, .timeout = 10.0) {
    std::vector<herald::push::ChannelSnapshot> channels(1);
    channels[0] = {"c", 9, 4, {}};
    for (std::uint64_t id = 1; id <= 4; ++id)
        channels[0].messages.push_back(
            message(9, id, "m" + std::to_string(id), id == 2 ? std::string(0x10000, 't') : ""));
    Handover h = hand_channels(channels);
    cr_assert_eq(h.channels.size(), 1U);
    const auto& got = h.channels[0];
    cr_assert(got.epoch == 9 && got.last_id == 4);
    cr_assert_eq(got.messages.size(), 2U);
    cr_expect(got.messages[0]->id == 3 && got.messages[0]->data == "m3");
    cr_expect(got.messages[1]->id == 4 && got.messages[1]->data == "m4");
}
