// HTTP client on the reactor: per-upstream pools of keep-alive connections, a bounded queue,
// non-blocking connect, one request at a time per connection, deadlines.
#include "httpc/client.hpp"

#include <algorithm>
#include <cerrno>

#include <unistd.h>

#include "core/log.hpp"

namespace herald::httpc {
namespace {

constexpr std::size_t read_chunk = 16 * 1024; // bytes read per readable event

class ClientCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "http client"; }
    std::string message(int e) const override {
        switch (static_cast<ClientErrc>(e)) {
        case ClientErrc::queue_full: return "too many requests queued for the upstream";
        case ClientErrc::connect_failed: return "connect failed";
        case ClientErrc::connection_lost: return "connection closed before the response ended";
        case ClientErrc::timeout: return "no response in time";
        case ClientErrc::bad_response: return "malformed response";
        }
        return "http client error";
    }
};

std::error_code last_error() noexcept { return {errno, std::generic_category()}; }

} // namespace

const std::error_category& client_category() noexcept {
    static const ClientCategory c;
    return c;
}

// One TCP connection to an upstream: connecting, busy with one request, or idle in the pool.
class Client::Connection final : public IoHandler {
public:
    Connection(Client& client, Pool& pool) : client_(client), pool_(pool) {}

    // Starts the connect; a failure is reported from a timer, never from inside send().
    void start() noexcept {
        std::error_code ec;
        fd_ = net::connect_to(pool_.endpoint.address, ec);
        if (!ec) watch_ = client_.loop_.watch(fd_.get(), Interest::write, *this, ec);
        if (ec) {
            error_ = ec;
            timer_ = client_.loop_.add_timer({}, [this] {
                HERALD_WARN("http upstream %s: connect(): %s", pool_.endpoint.authority.c_str(),
                            error_.message().c_str());
                client_.complete(*this, ClientErrc::connect_failed);
            });
            return;
        }
        ++client_.stats_.connects;
        connecting_ = true;
    }

    // Takes request `id` (its bytes are sent once connected).
    void assign(std::uint64_t id, const Pending& p) noexcept {
        request_ = id;
        reused_ = !connecting_ && !fresh_;
        fresh_ = false;
        out_ = p.bytes;
        sent_ = 0;
        parser_ = ResponseParser(client_.options_.limits);
        parser_.start(p.head);
        if (error_) return; // its connect failed: the timer set by start() reports it
        timer_.cancel();
        if (!connecting_) want(Interest::read_write);
    }

    // Back in the pool: watch for the server closing it, close it after idle_timeout.
    void idle() noexcept {
        request_ = 0;
        want(Interest::read);
        timer_ = client_.loop_.add_timer(client_.options_.idle_timeout,
                                         [this] { client_.close(*this); });
    }

    void on_ready(const ReadyEvent& ev) noexcept override {
        if (connecting_) {
            if (std::error_code ec = net::connect_result(fd_.get())) {
                HERALD_WARN("http upstream %s: connect(): %s", pool_.endpoint.authority.c_str(),
                            ec.message().c_str());
                client_.complete(*this, ClientErrc::connect_failed);
                return;
            }
            connecting_ = false;
            net::set_nodelay(fd_.get());
            want(request_ != 0 ? Interest::read_write : Interest::read);
            return;
        }
        if (ev.writable && request_ != 0 && !flush()) return;
        if (ev.readable || ev.hangup) read_input();
    }

    bool busy() const noexcept { return request_ != 0 || connecting_; }
    std::uint64_t request() const noexcept { return request_; }
    bool reused() const noexcept { return reused_; }
    const ResponseParser& response() const noexcept { return parser_; }
    bool reusable() const noexcept { return parser_.keep_alive() && !extra_bytes_; }
    void stop() noexcept {
        timer_.cancel();
        watch_.reset();
        fd_.reset();
        request_ = 0;
    }

private:
    void want(Interest in) noexcept {
        if (watch_.interest() == in) return;
        if (std::error_code ec = watch_.set(in)) {
            HERALD_WARN("watch(http upstream %s): %s", pool_.endpoint.authority.c_str(),
                        ec.message().c_str());
            client_.complete(*this, ClientErrc::connection_lost);
        }
    }

    // Writes what is left of the request; false if the connection ended.
    bool flush() noexcept {
        while (sent_ < out_.size()) {
            iovec iov{out_.data() + sent_, out_.size() - sent_};
            const ssize_t n = net::write_vec(fd_.get(), &iov, 1, false);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
                HERALD_WARN("write(http upstream %s): %s", pool_.endpoint.authority.c_str(),
                            last_error().message().c_str());
                client_.complete(*this, ClientErrc::connection_lost);
                return false;
            }
            sent_ += static_cast<std::size_t>(n);
        }
        out_ = std::string();
        want(Interest::read);
        return true;
    }

    void read_input() noexcept {
        char buf[read_chunk];
        const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        if (request_ == 0) { // idle: the server closed it (or sent what nobody asked for)
            client_.close(*this);
            return;
        }
        if (n <= 0) {
            ResponseResult r = parser_.finish();
            client_.complete(*this, r.status == ParseStatus::done
                                        ? std::error_code()
                                        : std::error_code(ClientErrc::connection_lost));
            return;
        }
        const std::string_view in(buf, static_cast<std::size_t>(n));
        ResponseResult r = parser_.feed(in);
        if (r.status == ParseStatus::need_more) return;
        if (r.status == ParseStatus::error) {
            HERALD_WARN("http upstream %s: bad response: %s", pool_.endpoint.authority.c_str(),
                        to_string(r.error));
            client_.complete(*this, ClientErrc::bad_response);
            return;
        }
        extra_bytes_ = r.consumed < in.size(); // no pipelining: nothing may follow
        client_.complete(*this, {});
    }

    Client& client_;
    Pool& pool_;
    std::uint64_t request_ = 0;
    bool connecting_ = false, fresh_ = true, reused_ = false, extra_bytes_ = false;
    std::error_code error_;
    std::string out_;
    std::size_t sent_ = 0;
    ResponseParser parser_;
    UniqueFd fd_;
    Watch watch_; // after fd_: unwatched before the fd closes
    Timer timer_; // idle timeout, or the deferred report of a failed connect
};

Call& Call::operator=(Call&& o) noexcept {
    if (this != &o) {
        reset();
        client_ = o.client_;
        id_ = o.id_;
        o.client_ = nullptr;
    }
    return *this;
}

void Call::reset() noexcept {
    if (client_ != nullptr) client_->cancel(id_);
    client_ = nullptr;
}

Client::Client(EventLoop& loop, const ClientOptions& options) : loop_(loop), options_(options) {}

Client::~Client() {
    for (auto& [key, pool] : pools_)
        for (auto& c : pool.conns) c->stop();
}

Call Client::send(const Endpoint& to, const Request& req, ResponseCallback cb,
                  std::error_code& ec) {
    const std::string key = to.address.to_string();
    auto it = pools_.find(key);
    if (it == pools_.end()) it = pools_.emplace(key, Pool{to, {}, {}}).first;
    Pool& pool = it->second;
    if (pool.queue.size() >= options_.max_queued) {
        ec = ClientErrc::queue_full;
        return {};
    }
    ec.clear();
    const std::uint64_t id = next_id_++;
    Pending& p = pending_[id];
    p.pool = key;
    p.head = req.method == "HEAD";
    p.bytes.reserve(128 + req.target.size() + req.headers.size() + req.body.size());
    p.bytes.append(req.method).append(" ").append(req.target).append(" HTTP/1.1\r\nHost: ");
    p.bytes.append(to.authority).append("\r\n").append(req.headers);
    if (!req.body.empty() || req.method != "GET")
        p.bytes.append("Content-Length: ").append(std::to_string(req.body.size())).append("\r\n");
    p.bytes.append("\r\n").append(req.body);
    p.cb = std::move(cb);
    p.deadline = loop_.add_timer(req.timeout, [this, id] { on_timeout(id); });
    pool.queue.push_back(id);
    pump(pool);
    return Call(*this, id);
}

void Client::pump(Pool& pool) noexcept {
    while (!pool.queue.empty()) {
        Connection* free = nullptr;
        for (auto& c : pool.conns)
            if (!c->busy()) free = c.get();
        if (free == nullptr && pool.conns.size() < options_.max_connections) {
            pool.conns.push_back(std::make_unique<Connection>(*this, pool));
            free = pool.conns.back().get();
            free->start();
        }
        if (free == nullptr) return;
        const std::uint64_t id = pool.queue.front();
        pool.queue.pop_front();
        Pending& p = pending_.at(id);
        p.conn = free;
        free->assign(id, p);
        if (free->reused()) ++stats_.reused;
    }
}

void Client::cancel(std::uint64_t id) noexcept {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    if (it->second.conn != nullptr) { // on the wire: finish it, drop the answer
        it->second.cb = nullptr;
        return;
    }
    auto& queue = pools_.at(it->second.pool).queue;
    queue.erase(std::remove(queue.begin(), queue.end(), id), queue.end());
    pending_.erase(it);
}

void Client::on_timeout(std::uint64_t id) noexcept {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    if (Connection* c = it->second.conn) { // the answer would come too late to be read
        complete(*c, ClientErrc::timeout);
        return;
    }
    Pending p = std::move(it->second);
    pending_.erase(it);
    auto& queue = pools_.at(p.pool).queue;
    queue.erase(std::remove(queue.begin(), queue.end(), id), queue.end());
    if (p.cb) p.cb(ClientErrc::timeout, ResponseParser());
}

void Client::complete(Connection& c, std::error_code ec) noexcept {
    const std::uint64_t id = c.request();
    auto it = pending_.find(id);
    if (id == 0 || it == pending_.end()) { // a connect for a request that went away
        close(c);
        return;
    }
    Pool& pool = pools_.at(it->second.pool);
    // A kept-alive connection the server closed before answering: try once more on a new one.
    if (ec == ClientErrc::connection_lost && c.reused() && !c.response().started() &&
        !it->second.retried) {
        it->second.retried = true;
        it->second.conn = nullptr;
        pool.queue.push_front(id);
        close(c);
        pump(pool);
        return;
    }
    Pending p = std::move(it->second);
    pending_.erase(it);
    const std::size_t idle =
        static_cast<std::size_t>(std::count_if(pool.conns.begin(), pool.conns.end(),
                                               [](const auto& k) { return !k->busy(); }));
    const bool keep = !ec && c.reusable() && idle < options_.max_idle;
    if (p.cb) p.cb(ec, c.response());
    if (keep) c.idle();
    else close(c);
    pump(pool);
}

void Client::close(Connection& c) noexcept {
    for (auto& [key, pool] : pools_) {
        auto it = std::find_if(pool.conns.begin(), pool.conns.end(),
                               [&](const auto& k) { return k.get() == &c; });
        if (it == pool.conns.end()) continue;
        c.stop();
        if (closed_.empty())
            loop_.defer([this] {
                std::vector<std::unique_ptr<Connection>> done;
                done.swap(closed_);
            });
        closed_.push_back(std::move(*it));
        pool.conns.erase(it);
        return;
    }
}

} // namespace herald::httpc
