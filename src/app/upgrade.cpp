// The binary upgrade: starting the new process, the handover of listening sockets and the pid
// file over a Unix socket, and the confirmation. References: fork(2), execve(2), unix(7)
// (SCM_RIGHTS), waitpid(2).
#include "app/upgrade.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/handover.hpp"
#include "core/log.hpp"
#include "net/socket.hpp"

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace herald::app {
namespace {

// How often a failed new process is looked for, and how long it has to exit on its own
// before it is killed.
constexpr Duration reap_poll{10};
constexpr Duration reap_grace{2'000};

// Main thread only.
std::string errno_text(int err) { return std::strerror(err); } // NOLINT(concurrency-mt-unsafe)

bool is_executable(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
    return "stopped";
}

// Everything execve needs, built before fork (the child may only make async-signal-safe
// calls: another thread may hold the allocator's lock at the moment of the fork).
struct ExecImage {
    std::vector<std::string> strings;
    std::vector<char*> argv, envp;
};

ExecImage make_image(const std::vector<std::string>& args, int child_fd) {
    ExecImage im;
    const std::string var = std::string(handover_env) + "=";
    std::size_t envc = 0;
    for (char** e = environ; *e; ++e) ++envc;
    im.strings.reserve(args.size() + envc + 1);
    for (const std::string& a : args) im.strings.push_back(a);
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, var.c_str(), var.size()) != 0) im.strings.emplace_back(*e);
    im.strings.push_back(var + std::to_string(child_fd));
    for (std::size_t i = 0; i < im.strings.size(); ++i)
        (i < args.size() ? im.argv : im.envp).push_back(im.strings[i].data());
    im.argv.push_back(nullptr);
    im.envp.push_back(nullptr);
    return im;
}

} // namespace

namespace {

// A channel's records: the newest run of buffered messages that each fit a record (ids are
// contiguous in a buffer, so the run is too), after its `channel` record.
std::error_code send_channel(int sock, const push::ChannelSnapshot& c) {
    std::size_t from = c.messages.size();
    while (from > 0) {
        const push::Message& m = *c.messages[from - 1];
        if (!fits_message_record(m.content_type, m.event, m.data.size())) break;
        --from;
    }
    Record head{RecordType::channel, c.name, static_cast<std::uint32_t>(c.messages.size() - from)};
    head.epoch = c.epoch;
    head.id = c.last_id;
    if (auto ec = net::send_with_fds(sock, encode_record(head), {})) return ec;
    for (std::size_t i = from; i < c.messages.size(); ++i) {
        const push::Message& m = *c.messages[i];
        Record r{RecordType::message, "", 0};
        r.id = m.id;
        r.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        m.published_at.time_since_epoch()).count();
        r.content_type = m.content_type;
        r.event = m.event;
        r.data = m.data;
        if (auto ec = net::send_with_fds(sock, encode_record(r), {})) return ec;
    }
    return {};
}

} // namespace

std::error_code send_handover(int sock, const std::vector<ListenSockets>& listens,
                              const std::string& pid_path, int pid_fd,
                              const std::vector<push::ChannelSnapshot>& channels) {
    for (const ListenSockets& l : listens)
        for (std::size_t at = 0; at < l.fds.size(); at += max_handover_fds) {
            const std::size_t n = std::min(max_handover_fds, l.fds.size() - at);
            const std::string rec =
                encode_record({RecordType::listener, l.key, static_cast<std::uint32_t>(n)});
            if (auto ec = net::send_with_fds(sock, rec, std::span(l.fds).subspan(at, n)))
                return ec;
        }
    const int pid_fds[1] = {pid_fd};
    const std::string pid_rec = encode_record(
        {RecordType::pid_file, pid_fd >= 0 ? pid_path : std::string(), pid_fd >= 0 ? 1U : 0U});
    if (auto ec = net::send_with_fds(sock, pid_rec, std::span(pid_fds, pid_fd >= 0 ? 1 : 0)))
        return ec;
    for (const push::ChannelSnapshot& c : channels)
        if (auto ec = send_channel(sock, c)) return ec;
    const std::string end =
        encode_record({RecordType::end, "", static_cast<std::uint32_t>(::getpid())});
    return net::send_with_fds(sock, end, {});
}

std::string executable_path(const char* argv0) {
    std::string name = argv0 ? argv0 : "";
    if (name.empty()) return {};
    if (name[0] == '/') return name;
    if (name.find('/') != std::string::npos) {
        char cwd[4096];
        if (!::getcwd(cwd, sizeof cwd)) return {};
        return std::string(cwd) + "/" + name;
    }
    const char* path = std::getenv("PATH"); // NOLINT(concurrency-mt-unsafe): at start
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    for (std::size_t at = 0; at <= dirs.size();) {
        std::size_t end = dirs.find(':', at);
        if (end == std::string::npos) end = dirs.size();
        std::string dir = dirs.substr(at, end - at);
        std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
        if (is_executable(candidate)) return candidate[0] == '/' ? candidate : executable_path(candidate.c_str());
        at = end + 1;
    }
    return {};
}

std::unique_ptr<UpgradeChild> UpgradeChild::start(EventLoop& loop, const std::string& exe,
                                                  const std::vector<std::string>& args,
                                                  const std::vector<ListenSockets>& listens,
                                                  const std::string& pid_path, int pid_fd,
                                                  const std::vector<push::ChannelSnapshot>& channels,
                                                  Callbacks cb, std::string& error,
                                                  Duration confirm_timeout) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        error = "socketpair() failed: " + errno_text(errno);
        return nullptr;
    }
    UniqueFd mine(sv[0]), theirs(sv[1]);
    ::fcntl(mine.get(), F_SETFD, FD_CLOEXEC);  // the child clears its own end's flag
    // The records are sent blocking (channels may not fit the socket's buffer): a new process
    // that stops reading fails the upgrade after confirm_timeout instead of holding this thread.
    timeval send_limit{};
    send_limit.tv_sec = static_cast<time_t>(confirm_timeout.count() / 1000);
    send_limit.tv_usec = static_cast<suseconds_t>(confirm_timeout.count() % 1000 * 1000);
    ::setsockopt(mine.get(), SOL_SOCKET, SO_SNDTIMEO, &send_limit, sizeof send_limit);
    ::fcntl(theirs.get(), F_SETFD, FD_CLOEXEC);
    ExecImage im = make_image(args, theirs.get());
    pid_t child_pid = ::fork();
    if (child_pid < 0) {
        error = "fork() failed: " + errno_text(errno);
        return nullptr;
    }
    if (child_pid == 0) {
        // Async-signal-safe calls only. The child's end stays open across exec; every other
        // descriptor of ours is close-on-exec.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr); // NOLINT(concurrency-mt-unsafe): one thread
        ::fcntl(theirs.get(), F_SETFD, 0);
        ::execve(exe.c_str(), im.argv.data(), im.envp.data());
        ::_exit(127);
    }
    theirs.reset();
    auto child = std::make_unique<UpgradeChild>(loop, child_pid, std::move(mine), std::move(cb),
                                                confirm_timeout);
    if (auto ec = send_handover(child->channel_.get(), listens, pid_path, pid_fd, channels)) {
        child->fail("sending the listening sockets and channels failed (" + ec.message() + ")",
                    true);
        return child;
    }
    std::error_code ec;
    if (::fcntl(child->channel_.get(), F_SETFL, O_NONBLOCK) != 0) ec.assign(errno, std::generic_category());
    if (!ec) child->watch_ = loop.watch(child->channel_.get(), Interest::read, *child, ec);
    if (ec) child->fail("watching the upgrade socket failed (" + ec.message() + ")", true);
    return child;
}

UpgradeChild::UpgradeChild(EventLoop& loop, pid_t child, UniqueFd channel, Callbacks cb,
                           Duration confirm_timeout)
    : loop_(loop), pid_(child), channel_(std::move(channel)), cb_(std::move(cb)) {
    timer_ = loop_.add_timer(confirm_timeout, [this, confirm_timeout] {
        fail("it did not confirm within " + std::to_string(confirm_timeout.count()) + " ms", true);
    });
}

// A callback ran: the process confirmed (it is the server now) or was reaped. Otherwise the
// old process stops in the middle of an upgrade: the new one goes with it.
UpgradeChild::~UpgradeChild() {
    if (done_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    HERALD_WARN("upgrade: new process %ld killed: the old process stops", static_cast<long>(pid_));
}

void UpgradeChild::on_ready(const ReadyEvent&) noexcept {
    char buf[256];
    ssize_t n = ::recv(channel_.get(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n < 0) return fail("reading the upgrade socket failed (" + errno_text(errno) + ")");
    if (n == 0) return fail("it closed the upgrade socket before it confirmed");
    in_.append(buf, static_cast<std::size_t>(n));
    Record r;
    RecordResult res = decode_record(in_, r);
    // need_more: fewer bytes than one record, which decode_record bounds (max_handover_body).
    if (res.status == ParseStatus::need_more) return;
    if (res.status == ParseStatus::error)
        return fail(std::string("it sent a bad record (") + to_string(res.error) + ")", true);
    if (r.type != RecordType::ready) return fail("it sent an unexpected record", true);
    watch_ = Watch();
    timer_ = Timer();
    done_ = true;
    cb_.ready(pid_);  // it may take_channel() to hand over the live connections
}

UniqueFd UpgradeChild::take_channel() noexcept {
    if (channel_ && ::fcntl(channel_.get(), F_SETFL, 0) != 0) channel_.reset();  // blocking again
    return std::move(channel_);
}

bool peer_still_reads(int sock) noexcept {
    char c;
    const ssize_t n = ::recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

std::error_code send_connection(int sock, net::LiveState&& st, int fd) {
    Record r;
    r.type = RecordType::connection;
    r.conn = std::move(st);
    const int fds[1] = {fd};
    return net::send_with_fds(sock, encode_record(r), fds);
}

std::error_code send_end(int sock) {
    return net::send_with_fds(
        sock, encode_record({RecordType::end, "", static_cast<std::uint32_t>(::getpid())}), {});
}

ConnectionReceiver::ConnectionReceiver(EventLoop& loop, UniqueFd channel, Taken taken,
                                       std::function<void(std::size_t, const std::string&)> done)
    : channel_(std::move(channel)), taken_(std::move(taken)), done_(std::move(done)) {
    std::error_code ec;
    if (::fcntl(channel_.get(), F_SETFL, O_NONBLOCK) != 0) ec.assign(errno, std::generic_category());
    if (!ec) watch_ = loop.watch(channel_.get(), Interest::read, *this, ec);
    if (ec) finish("watching the upgrade socket failed (" + ec.message() + ")");
}

void ConnectionReceiver::finish(const std::string& why) noexcept {
    if (!channel_) return;
    watch_ = Watch();
    channel_.reset();
    arrived_.clear();
    done_(count_, why);
}

void ConnectionReceiver::on_ready(const ReadyEvent&) noexcept {
    for (int reads = 0; reads < 64 && channel_; ++reads) {
        char buf[65536];
        std::error_code ec;
        const ssize_t n = net::receive_with_fds(channel_.get(), buf, arrived_, ec);
        if (n < 0 && (ec == std::errc::resource_unavailable_try_again ||
                      ec == std::errc::operation_would_block || ec == std::errc::interrupted))
            return;
        if (n < 0) return finish("reading the upgrade socket failed (" + ec.message() + ")");
        if (n == 0) return finish("the old process closed the upgrade socket before its end");
        in_.append(buf, static_cast<std::size_t>(n));
        std::size_t at = 0;
        for (;;) {
            Record r;
            const RecordResult res = decode_record(std::string_view(in_).substr(at), r);
            if (res.status == ParseStatus::need_more) break;
            if (res.status == ParseStatus::error)
                return finish(std::string("a bad record from the old process (") +
                              to_string(res.error) + ")");
            at += res.consumed;
            if (r.type == RecordType::end) return finish({});
            if (r.type != RecordType::connection || arrived_.empty())
                return finish("an unexpected record from the old process");
            UniqueFd fd = std::move(arrived_.front());
            arrived_.erase(arrived_.begin());
            ++count_;
            taken_(std::move(fd), std::move(r.conn));
        }
        in_.erase(0, at);
    }
}

// Stops listening to the process and reaps it (SIGKILL after reap_grace), then reports.
void UpgradeChild::fail(std::string why, bool kill_now) noexcept {
    if (done_ || !why_.empty()) return;
    why_ = std::move(why);
    watch_ = Watch();
    channel_.reset();
    kill_at_ = loop_.read_clock() + (kill_now ? Duration(0) : reap_grace);
    reap();
}

void UpgradeChild::reap() noexcept {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
        reaped_ = true;
        done_ = true;
        timer_ = Timer();
        cb_.failed(why_ + (r == pid_ ? "; it " + describe_status(status) : std::string()));
        return;
    }
    if (loop_.read_clock() >= kill_at_) ::kill(pid_, SIGKILL);
    timer_ = loop_.add_timer(reap_poll, [this] { reap(); });
}

UniqueFd take_handover_channel() {
    const char* v = std::getenv(handover_env); // NOLINT(concurrency-mt-unsafe): at start
    if (!v) return {};
    char* end = nullptr;
    const long fd = std::strtol(v, &end, 10);
    const bool number = end != v && *end == '\0' && fd >= 0 && fd < 1 << 20;
    const std::string text = v;
    ::unsetenv(handover_env); // NOLINT(concurrency-mt-unsafe): at start, no thread yet
    int type = 0;
    socklen_t len = sizeof type;
    if (!number || ::getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &len) != 0)
        throw std::runtime_error(std::string(handover_env) + "=\"" + text +
                                 "\" does not name an open socket");
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return UniqueFd(static_cast<int>(fd));
}

namespace {

// Moves `want` descriptors from the front of `arrived` into `out`.
void take_fds(std::vector<UniqueFd>& arrived, std::size_t want, std::vector<UniqueFd>& out,
              const Record& r) {
    if (arrived.size() < want)
        throw std::runtime_error("upgrade record \"" + r.name + "\" names " +
                                 std::to_string(want) + " sockets, " +
                                 std::to_string(arrived.size()) + " arrived");
    for (std::size_t i = 0; i < want; ++i) out.push_back(std::move(arrived[i]));
    arrived.erase(arrived.begin(), arrived.begin() + static_cast<std::ptrdiff_t>(want));
}

// Applies one decoded record; true at `end`.
bool apply_record(const Record& r, std::vector<UniqueFd>& arrived, Handover& h) {
    switch (r.type) {
    case RecordType::listener: {
        auto it = std::find_if(h.listeners.begin(), h.listeners.end(),
                               [&](const auto& l) { return l.first == r.name; });
        if (it == h.listeners.end()) {
            h.listeners.emplace_back(r.name, std::vector<UniqueFd>());
            it = h.listeners.end() - 1;
        }
        take_fds(arrived, r.value, it->second, r);
        return false;
    }
    case RecordType::pid_file: {
        std::vector<UniqueFd> one;
        take_fds(arrived, r.value, one, r);
        h.pid_path = r.name;
        if (!one.empty()) h.pid_fd = std::move(one.front());
        return false;
    }
    case RecordType::channel:
        if (!h.channels.empty() && h.channels.back().expected != 0) break;
        h.channels.push_back(HandedChannel{r.name, r.epoch, r.id, {}, r.value});
        h.channels.back().messages.reserve(r.value);
        return false;
    case RecordType::message: {
        if (h.channels.empty() || h.channels.back().expected == 0) break;
        HandedChannel& c = h.channels.back();
        const std::uint64_t want = c.messages.empty() ? c.last_id + 1 - c.expected
                                                      : c.messages.back()->id + 1;
        if (r.id != want) break;  // ids of a buffer are contiguous, ending at last_id
        auto m = std::make_shared<push::Message>(c.name, r.data, r.content_type, r.event);
        m->id = r.id;
        m->epoch = c.epoch;
        m->published_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(r.time_ms));
        c.messages.push_back(std::move(m));
        --c.expected;
        return false;
    }
    case RecordType::end:
        if (!h.channels.empty() && h.channels.back().expected != 0) break;
        h.from = static_cast<long>(r.value);
        return true;
    case RecordType::ready:
    case RecordType::connection: break;
    }
    throw std::runtime_error("upgrade: unexpected record from the old process");
}

} // namespace

Handover receive_handover(UniqueFd channel, Duration timeout) {
    Handover h;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
    ::setsockopt(channel.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string in;
    std::size_t at = 0;  // the first byte of in not decoded yet
    std::vector<UniqueFd> arrived;
    for (;;) {
        Record r;
        RecordResult res = decode_record(std::string_view(in).substr(at), r);
        if (res.status == ParseStatus::error)
            throw std::runtime_error(std::string("upgrade: bad record from the old process (") +
                                     to_string(res.error) + ")");
        if (res.status == ParseStatus::done) {
            at += res.consumed;
            if (apply_record(r, arrived, h)) break;
            continue;
        }
        in.erase(0, at);  // once per read, not per record: a read holds many small records
        at = 0;
        char buf[65536];
        std::error_code ec;
        ssize_t n = net::receive_with_fds(channel.get(), buf, arrived, ec);
        if (n < 0 && (ec == std::errc::resource_unavailable_try_again ||
                      ec == std::errc::operation_would_block))
            throw std::runtime_error("upgrade: no record from the old process within " +
                                     std::to_string(timeout.count()) + " ms");
        if (n < 0)
            throw std::runtime_error("upgrade: reading the upgrade socket failed (" +
                                     ec.message() + ")");
        if (ec) throw std::runtime_error("upgrade: sockets dropped in transit (" + ec.message() + ")");
        if (n == 0) throw std::runtime_error("upgrade: the old process closed the upgrade socket");
        in.append(buf, static_cast<std::size_t>(n));
    }
    if (!arrived.empty() || in.size() > at)
        HERALD_WARN("upgrade: %zu descriptors and %zu bytes after the end record ignored",
                    arrived.size(), in.size() - at);
    h.channel = std::move(channel);
    return h;
}

std::error_code confirm_handover(Handover& h) {
    const std::string rec =
        encode_record({RecordType::ready, "", static_cast<std::uint32_t>(::getpid())});
    std::error_code ec = net::send_with_fds(h.channel.get(), rec, {});
    if (ec) h.channel.reset();
    return ec;
}

} // namespace herald::app
