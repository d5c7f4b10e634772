// Worker: thread + loop + server; config snapshots arrive by post().
#include "app/worker.hpp"

#include <string>

#include <unistd.h>

#include "app/handlers.hpp"
#include "core/log.hpp"
#include "core/thread.hpp"
#include "http/session.hpp"
#include "net/proxy_session.hpp"
#include "app/handover.hpp"
#include "push/broker.hpp"
#include "push/strategy.hpp"

namespace herald::app {

Worker::Worker(std::size_t index, std::shared_ptr<const http::Router> routes,
               push::Broker& broker, std::vector<Worker*>* all, net::AddrLimiter& limiter)
    : index_(index), routes_(std::move(routes)), broker_(broker),
      http_client_(loop_, httpc::ClientOptions{}), auth_(loop_, http_client_, stats_.auth),
      hooks_(loop_, http_client_, stats_.hooks), access_log_(loop_), all_(all),
      limiter_(limiter) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) node_ = host;
    server_ = std::make_unique<net::Server>(
        loop_,
        [this](net::Connection& c) -> std::unique_ptr<net::Session> {
            auto http = [this](net::Connection& cc) -> std::unique_ptr<net::Session> {
                return std::make_unique<http::HttpSession>(cc, *this);
            };
            if (routes_->proxy_protocol(c.listener())) return std::make_unique<net::ProxySession>(c, http);
            return http(c);
        },
        routes_->config().worker_connections);
    broker_worker_ = broker_.attach_worker(loop_);
    std::error_code ec = access_log_.open(routes_->config().access_log);
    if (ec)
        HERALD_ERROR("open() \"%s\" failed: %s", routes_->config().access_log.c_str(),
                     ec.message().c_str());
}

Worker::~Worker() {
    join();
    server_.reset();
}

void Worker::add_listener(UniqueFd fd, const std::string& listen_key) {
    std::error_code ec;
    server_->listen(std::move(fd), ec);
    if (ec) HERALD_ERROR("watch(listener %s): %s", listen_key.c_str(), ec.message().c_str());
}

void Worker::start() {
    thread_ = start_thread("herald-w" + std::to_string(index_), [this] {
        loop_.run();
        loop_done_.store(true, std::memory_order_release);
    });
}

void Worker::join() {
    if (thread_.joinable()) thread_.join();
}

void Worker::post_config(std::shared_ptr<const http::Router> routes,
                         std::vector<std::pair<UniqueFd, std::string>> new_listeners,
                         std::vector<std::size_t> removed) {
    // std::function needs a copyable callable: move the fds through a shared holder.
    auto fresh = std::make_shared<std::vector<std::pair<UniqueFd, std::string>>>(
        std::move(new_listeners));
    loop_.post([this, routes = std::move(routes), fresh, removed = std::move(removed)] {
        for (std::size_t i : removed) server_->close_listener(i);
        for (auto& [fd, key] : *fresh) add_listener(std::move(fd), key);
        apply_config(routes);
    });
}

void Worker::apply_config(std::shared_ptr<const http::Router> routes) {
    const config::Config& old_cfg = routes_->config();
    const config::Config& cfg = routes->config();
    if (cfg.access_log != old_cfg.access_log) {
        std::error_code ec = access_log_.open(cfg.access_log);
        if (ec)
            HERALD_ERROR("open() \"%s\" failed: %s", cfg.access_log.c_str(), ec.message().c_str());
    }
    server_->set_max_connections(cfg.worker_connections);
    files_.clear();
    routes_ = std::move(routes);
}

void Worker::post_graceful_stop(Clock::duration timeout) {
    loop_.post([this, timeout] {
        if (stopping_) return;
        stopping_ = true;
        server_->close_listeners();
        server_->for_each_connection([](net::Connection& c) {
            if (auto* s = c.session()) s->on_shutdown();
        });
        stop_deadline_ = loop_.add_timer(timeout, [this] {
            HERALD_NOTICE("worker %zu: shutdown timeout, closing %zu connections", index_,
                          server_->connection_count());
            server_->close_all();
            loop_.defer([this] { loop_.stop(); });
        });
        check_idle_exit();
    });
}

// How this worker's connections went in an upgrade (the master logs what it sent on).
void Worker::log_hand_over() {
    if (!hand_ || hand_logged_) return;
    hand_logged_ = true;
    HERALD_NOTICE("worker %zu: upgrade: %zu connection%s moved; %zu ended the graceful way "
                  "because they cannot move (closing, a record too large), %zu because they "
                  "were still in a request or message at the shutdown timeout",
                  index_, hand_moved_, hand_moved_ == 1 ? "" : "s", hand_unmovable_, hand_late_);
}

void Worker::check_idle_exit() {
    if (server_->connection_count() == 0) {
        log_hand_over();
        access_log_.flush();
        loop_.stop();
        return;
    }
    idle_check_ = loop_.add_timer(std::chrono::milliseconds(20), [this] { check_idle_exit(); });
}

void Worker::post_fast_stop() {
    loop_.post([this] {
        stopping_ = true;
        server_->close_listeners();
        server_->close_all();
        access_log_.flush();
        loop_.defer([this] { loop_.stop(); });
    });
}

void Worker::post_hand_over(Clock::duration timeout, HandOff hand) {
    loop_.post([this, timeout, hand = std::move(hand)] {
        if (stopping_) return;
        stopping_ = true;
        hand_ = hand;
        server_->close_listeners();
        stop_deadline_ = loop_.add_timer(timeout, [this] {
            hand_round_.cancel();
            server_->for_each_connection([this](net::Connection& c) {
                if (!c.closing() && !ending_.contains(&c)) ++hand_late_;
                end_gracefully(c);
            });
            stop_deadline_ = loop_.add_timer(std::chrono::seconds(2), [this] {
                log_hand_over();
                server_->close_all();
                loop_.defer([this] { loop_.stop(); });
            });
        });
        hand_round();
        check_idle_exit();
    });
}

void Worker::end_gracefully(net::Connection& c) {
    if (c.closing() || !ending_.insert(&c).second) return;
    if (auto* s = c.session()) s->on_shutdown();
}

// Hands over every connection at a clean point; those in the middle of something are asked
// again shortly.
void Worker::hand_round() {
    std::size_t waiting = 0;
    server_->for_each_connection([this, &waiting](net::Connection& c) {
        if (c.closing() || ending_.contains(&c)) return;
        net::LiveState st;
        switch (c.hand_over(st)) {
        case net::Handing::later: ++waiting; return;
        case net::Handing::never:
            ++hand_unmovable_;
            end_gracefully(c);
            return;
        case net::Handing::ready: break;
        }
        st.listen_key = routes_->listener_key(st.listener);
        if (!fits_connection_record(st)) {
            ++hand_unmovable_;
            end_gracefully(c);
            return;
        }
        if (UniqueFd fd = c.take_socket()) {
            ++hand_moved_;
            hand_(std::move(fd), std::move(st));
        }
    });
    if (waiting)
        hand_round_ = loop_.add_timer(std::chrono::milliseconds(10), [this] { hand_round(); });
}

void Worker::post_adopt(UniqueFd fd, net::LiveState&& st) {
    auto held = std::make_shared<std::pair<UniqueFd, net::LiveState>>(std::move(fd), std::move(st));
    loop_.post([this, held] { adopt(std::move(held->first), held->second); });
}

void Worker::adopt(UniqueFd fd, net::LiveState& st) {
    if (stopping_) return;  // the socket closes: its client resumes
    const std::size_t listener = routes_->listener_of(st.listen_key);
    if (listener == http::Router::npos) {
        HERALD_NOTICE("upgrade: a connection of %s on listen %s not taken: no such listen now",
                      st.peer.to_string().c_str(), st.listen_key.c_str());
        return;
    }
    net::Connection* c = server_->adopt(std::move(fd), st, listener, [this](net::Connection& cc) {
        return std::make_unique<http::HttpSession>(cc, *this);
    });
    if (!c) return;
    if (st.kind != net::LiveState::Kind::idle) {
        auto* s = static_cast<http::HttpSession*>(c->session());
        if (!s->adopt(st)) {
            HERALD_NOTICE("upgrade: a connection of %s for \"%s\" not taken: no location serves it now",
                          st.remote.c_str(), st.path.c_str());
            c->close();
            return;
        }
        push::adopt_handed(*this, *s, st);
    }
    if (!c->closed()) c->preload(st.input);
}

// A location's kind picks its handler; every handler gets this worker.
void Worker::dispatch(http::HttpSession& s) {
    const config::LocationConf& loc = s.location();
    if (loc.status) serve_status(*this, s);
    else if (loc.push != config::PushStrategy::none) serve_push(*this, s);
    else if (loc.publish) serve_publish(*this, s);
    else serve_static(*this, s);
}

void Worker::subscriber_joined(const config::Limits& l, const push::PresenceEvent& e) noexcept {
    if (l.on_subscribe) hooks_.post(*l.on_subscribe, hook_event_json("subscribe", e, node_));
}

void Worker::subscriber_left(const push::PresenceEvent& e) noexcept {
    if (e.on_unsubscribe)
        hooks_.post(*e.on_unsubscribe, hook_event_json("unsubscribe", e, node_));
}

void Worker::retire(std::unique_ptr<http::Responder> r) noexcept {
    if (retired_.empty())
        loop_.defer([this] {
            std::vector<std::unique_ptr<http::Responder>> done;
            done.swap(retired_);
        });
    retired_.push_back(std::move(r));
}

} // namespace herald::app
