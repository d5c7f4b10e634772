// Redis Cluster routing over Client links (redis/cluster_client.hpp).
#include "redis/cluster_client.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "core/log.hpp"

namespace herald::redis {
namespace {

using namespace std::chrono_literals;

// Attempts of one command after TRYAGAIN, CLUSTERDOWN, MOVED, ASK or a master not connected,
// all within command_timeout.
constexpr unsigned max_cluster_attempts = 8;
// Delay before retrying after TRYAGAIN / CLUSTERDOWN / no link; doubles up to retry_max.
constexpr Clock::duration retry_min = 20ms;
constexpr Clock::duration retry_max = 500ms;
// The slot map is read again this often in cluster mode (MOVED, a lost link, a sharded
// subscription ended by Redis read it at once; this catches what they miss).
constexpr Clock::duration slot_map_refresh = 5s;

const RespValue no_reply{};

} // namespace

struct ClusterClient::Command {
    Script script; // source "" for a plain command (args)
    std::vector<std::string> keys, args;
    std::size_t sharded_arg = 0;
    std::uint16_t slot = 0;
    ReplyCallback cb;
    Clock::time_point deadline, due;
    unsigned attempts = 0;
    bool asking = false; // send ASKING first, to ask_node
    // cppcheck-suppress unusedStructMember
    NodeAddress ask_node;
};

ClusterClient::ClusterClient(EventLoop& loop, ClusterOptions options, PubSubHandler& handler)
    : loop_(loop), options_(std::move(options)), handler_(handler) {}

ClusterClient::~ClusterClient() {
    // Pending callbacks run now (closed), while every member is still here.
    closing_ = true;
    for (auto& [text, n] : nodes_) {
        if (n->commands) // none for a node whose address was refused
            n->commands->close();
        if (n->pubsub)
            n->pubsub->close();
    }
    std::deque<std::shared_ptr<Command>> left = std::move(waiting_);
    left.insert(left.end(), retries_.begin(), retries_.end());
    retries_.clear();
    for (const auto& c : left)
        c->cb(ClientErrc::closed, no_reply);
}

std::error_code ClusterClient::start() {
    for (const NodeAddress& s : options_.seeds) {
        Node& n = node(s);
        n.seed = true;
        if (!n.commands)
            return std::make_error_code(std::errc::invalid_argument);
    }
    if (options_.seeds.empty())
        return std::make_error_code(std::errc::invalid_argument);
    read_slot_map();
    return {};
}

ClusterClient::Node& ClusterClient::node(const NodeAddress& a) {
    auto [it, fresh] = nodes_.try_emplace(a.text());
    if (!fresh)
        return *it->second;
    it->second = std::make_unique<Node>();
    Node& n = *it->second;
    n.address = a;
    ClientOptions o = options_.link;
    o.host = a.host;
    o.port = a.port;
    auto c = std::make_unique<Client>(loop_, std::move(o));
    if (std::error_code ec = c->start()) {
        HERALD_ERROR("redis %s: %s", a.text().c_str(), ec.message().c_str());
        return n; // no links: commands routed here fail (not connected)
    }
    n.commands = std::move(c);
    return n;
}

// ---- slot map -------------------------------------------------------------------------------

void ClusterClient::read_slot_map() {
    if (mode_ == Mode::single || closing_)
        return;
    if (reading_map_) {
        read_map_again_ = true;
        return;
    }
    // A connected master of the current map if there is one, else the next seed.
    Node* from = nullptr;
    if (mode_ == Mode::cluster) {
        std::vector<Node*> up;
        for (auto& [text, n] : nodes_)
            if (n->master && n->commands && n->commands->connected())
                up.push_back(n.get());
        if (!up.empty())
            from = up[slot_map_reads_ % up.size()];
    }
    if (from == nullptr)
        from = &node(options_.seeds[next_seed_++ % options_.seeds.size()]);
    if (!from->commands) {
        slot_map_failed(ClientErrc::not_connected);
        return;
    }
    reading_map_ = true;
    const NodeAddress at = from->address;
    std::error_code ec = from->commands->command(
        {"CLUSTER", "SLOTS"},
        [this, at](std::error_code e, const RespValue& v) { on_slot_map(at, e, v); });
    if (ec) {
        reading_map_ = false;
        slot_map_failed(ec);
    }
}

void ClusterClient::on_slot_map(const NodeAddress& from, std::error_code ec, const RespValue& v) {
    reading_map_ = false;
    if (closing_)
        return;
    // Not a cluster; or a user whose ACL denies CLUSTER (or a server or proxy without it),
    // who can use the server as one anyway.
    if (!ec && v.is_error() && mode_ == Mode::unknown &&
        (v.str.find("cluster support disabled") != std::string_view::npos ||
         v.str.starts_with("NOPERM") || v.str.starts_with("ERR unknown command"))) {
        mode_ = Mode::single;
        single_ = &node(from);
        open_pubsub(*single_);
        decided();
        return;
    }
    SlotMap map;
    if (!ec && !v.is_error() && parse_cluster_slots(v, from.host, map) && !map.ranges.empty()) {
        ++slot_map_reads_;
        map_failures_ = 0;
        const bool first = mode_ == Mode::unknown;
        mode_ = Mode::cluster;
        apply(map);
        if (first)
            decided();
        if (read_map_again_) {
            read_map_again_ = false;
            read_slot_map();
        }
        return;
    }
    if (!ec)
        HERALD_WARN("redis %s: CLUSTER SLOTS: %s", from.text().c_str(),
                    v.is_error() ? std::string(v.str).c_str() : "unexpected reply");
    slot_map_failed(ec ? ec : std::make_error_code(std::errc::protocol_error));
}

void ClusterClient::slot_map_failed(std::error_code ec) {
    read_map_again_ = false;
    if (mode_ == Mode::unknown) {
        std::deque<std::shared_ptr<Command>> failed = std::move(waiting_);
        waiting_.clear();
        for (const auto& c : failed)
            c->cb(ec, no_reply);
    }
    const Clock::duration delay =
        backoff_delay(options_.link.reconnect_min, options_.link.reconnect_max, map_failures_);
    ++map_failures_;
    map_timer_ = loop_.add_timer(delay, [this] { read_slot_map(); });
}

void ClusterClient::apply(const SlotMap& map) {
    owners_.fill(nullptr);
    for (auto& [text, n] : nodes_)
        n->master = false;
    for (const SlotRange& r : map.ranges) {
        Node& n = node(r.master);
        n.master = true;
        open_pubsub(n);
        std::fill(owners_.begin() + r.first, owners_.begin() + r.last + 1, &n);
    }
    place_all();
    retire_unused();
}

// The mode is known: channels are subscribed and the commands that waited go.
void ClusterClient::decided() {
    HERALD_NOTICE("redis: %s",
                  mode_ == Mode::cluster ? "Redis Cluster (sharded pub/sub)" : "single server");
    place_all();
    if (mode_ == Mode::cluster) {
        refresh_timer_ = loop_.add_timer(slot_map_refresh, [this] { refresh(); });
    }
    std::deque<std::shared_ptr<Command>> ready = std::move(waiting_);
    waiting_.clear();
    for (const auto& c : ready)
        if (std::error_code ec = send(c))
            retry_later(c, ec, no_reply);
}

void ClusterClient::refresh() {
    read_slot_map();
    refresh_timer_ = loop_.add_timer(slot_map_refresh, [this] { refresh(); });
}

void ClusterClient::retire_unused() {
    for (auto it = nodes_.begin(); it != nodes_.end();) {
        Node* n = it->second.get();
        const bool carries = std::any_of(channels_.begin(), channels_.end(),
                                         [n](const auto& c) { return c.second == n; });
        if (n->seed || n->master || carries || n == single_) {
            ++it;
            continue;
        }
        retired_.push_back(std::move(it->second));
        it = nodes_.erase(it);
    }
    if (!retired_.empty() && !retire_timer_.active())
        retire_timer_ = loop_.add_timer(Clock::duration::zero(), [this] { retired_.clear(); });
}

// ---- pub/sub --------------------------------------------------------------------------------

void ClusterClient::subscribe(std::string_view channel) {
    auto [it, fresh] = channels_.try_emplace(std::string(channel), nullptr);
    if (fresh)
        place(it->first, it->second);
}

void ClusterClient::unsubscribe(std::string_view channel) {
    const auto it = channels_.find(channel);
    if (it == channels_.end())
        return;
    if (it->second != nullptr && it->second->pubsub)
        it->second->pubsub->unsubscribe(channel, mode_ == Mode::cluster);
    channels_.erase(it);
}

bool ClusterClient::connected(std::string_view channel) const {
    const auto it = channels_.find(channel);
    return it != channels_.end() && it->second != nullptr && it->second->pubsub &&
           it->second->pubsub->connected();
}

// Subscribes channel on its owner's pub/sub link, leaving the one it was on (`at`).
void ClusterClient::place(const std::string& channel, Node*& at) {
    Node* owner = mode_ == Mode::single    ? single_
                  : mode_ == Mode::cluster ? owners_[key_slot(channel)]
                                           : nullptr;
    if (owner == at)
        return;
    const bool sharded = mode_ == Mode::cluster;
    if (at != nullptr && at->pubsub)
        at->pubsub->unsubscribe(channel, sharded);
    at = owner;
    if (owner == nullptr || !owner->commands)
        return; // no owner yet, or not reachable
    open_pubsub(*owner);
    owner->pubsub->subscribe(channel, sharded);
}

// Every master (or the single server) has its pub/sub link from the start, so that /status
// shows it connected before the first channel.
void ClusterClient::open_pubsub(Node& n) {
    if (n.pubsub || !n.commands)
        return;
    ClientOptions o = options_.link;
    o.host = n.address.host;
    o.port = n.address.port;
    PubSubHandler& self = *this;
    n.pubsub = std::make_unique<Client>(loop_, std::move(o), self);
    (void)n.pubsub->start(); // the address was checked for the command link
}

void ClusterClient::place_all() {
    for (auto& [channel, at] : channels_)
        place(channel, at);
}

void ClusterClient::on_message(std::string_view channel, std::string_view payload,
                               bool sharded) noexcept {
    handler_.on_message(channel, payload, sharded);
}

void ClusterClient::on_subscribed(std::string_view channel, bool sharded) noexcept {
    handler_.on_subscribed(channel, sharded);
}

void ClusterClient::on_link_down() noexcept {
    handler_.on_link_down();
    read_slot_map(); // the master may be failing over
}

void ClusterClient::on_link_up(bool after_link_down) noexcept {
    handler_.on_link_up(after_link_down);
}

void ClusterClient::on_subscription_ended(std::string_view channel, bool) noexcept {
    // The channel's slot moved: it goes to the new owner once the map says which.
    const auto it = channels_.find(channel);
    if (it == channels_.end())
        return;
    it->second = nullptr;
    if (mode_ == Mode::cluster)
        read_slot_map();
    else
        place(it->first, it->second);
}

void ClusterClient::on_subscription_refused(std::string_view error) noexcept {
    Redirect r;
    if (mode_ != Mode::cluster || !parse_redirect(error, r))
        return;
    if (!r.node.host.empty()) {
        owners_[r.slot] = &node(r.node);
        place_all();
    }
    read_slot_map();
}

// ---- commands -------------------------------------------------------------------------------

std::error_code ClusterClient::eval(const Script& script, std::span<const std::string_view> keys,
                                    std::span<const std::string_view> args, std::size_t sharded_arg,
                                    ReplyCallback cb) {
    if (mode_ == Mode::single && !closing_) {
        // Per publish on one server: nothing is retried, so no copy of the keys and payload
        // is kept here (Client::eval keeps its own for a NOSCRIPT retry).
        std::vector<std::string_view> a(args.begin(), args.end());
        if (sharded_arg < a.size())
            a[sharded_arg] = "0";
        return single_->commands->eval(script, keys, a, std::move(cb));
    }
    auto c = std::make_shared<Command>();
    c->script = script;
    c->keys.assign(keys.begin(), keys.end());
    c->args.assign(args.begin(), args.end());
    c->sharded_arg = sharded_arg;
    c->slot = keys.empty() ? 0 : key_slot(keys[0]);
    c->cb = std::move(cb);
    return submit(std::move(c));
}

std::error_code ClusterClient::command(std::span<const std::string_view> args,
                                       std::size_t key_arg, ReplyCallback cb) {
    auto c = std::make_shared<Command>();
    c->args.assign(args.begin(), args.end());
    c->sharded_arg = args.size();
    c->slot = key_arg < args.size() ? key_slot(args[key_arg]) : 0;
    c->cb = std::move(cb);
    return submit(std::move(c));
}

std::error_code ClusterClient::submit(std::shared_ptr<Command> c) {
    if (closing_)
        return ClientErrc::closed;
    if (mode_ == Mode::unknown && !reading_map_)
        return ClientErrc::not_connected;
    if (waiting_.size() + retries_.size() >= options_.link.max_in_flight)
        return ClientErrc::queue_full;
    c->deadline = loop_.now() + options_.link.command_timeout;
    if (mode_ == Mode::unknown) {
        waiting_.push_back(std::move(c));
        return {};
    }
    std::error_code ec = send(c);
    if (ec == ClientErrc::not_connected && mode_ == Mode::cluster) {
        retry_later(c, ec, no_reply); // a master failing over: wait for the next map
        return {};
    }
    return ec;
}

std::error_code ClusterClient::send(const std::shared_ptr<Command>& c) {
    Node* n = mode_ == Mode::single ? single_ : c->asking ? &node(c->ask_node) : owners_[c->slot];
    if (n == nullptr || !n->commands) {
        read_slot_map();
        return ClientErrc::not_connected;
    }
    std::vector<std::string_view> args(c->args.begin(), c->args.end());
    if (c->sharded_arg < args.size())
        args[c->sharded_arg] = mode_ == Mode::cluster ? "1" : "0";
    const std::vector<std::string_view> keys(c->keys.begin(), c->keys.end());
    auto reply_cb = [this, c, from = n->address](std::error_code ec, const RespValue& v) {
        on_reply(c, from, ec, v);
    };
    const bool asking = std::exchange(c->asking, false);
    if (asking) {
        if (std::error_code ec =
                n->commands->command({"ASKING"}, [](std::error_code, const RespValue&) {}))
            return ec;
    }
    if (c->script.source.empty())
        return n->commands->command(args, std::move(reply_cb));
    if (!asking)
        return n->commands->eval(c->script, keys, args, std::move(reply_cb));
    // ASKING applies to the next command only: a script goes as EVAL, so that no NOSCRIPT
    // retry comes between.
    const std::string key_count = std::to_string(keys.size());
    std::vector<std::string_view> cmd{"EVAL", c->script.source, key_count};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    return n->commands->command(cmd, std::move(reply_cb));
}

void ClusterClient::on_reply(const std::shared_ptr<Command>& c, const NodeAddress& from,
                             std::error_code ec, const RespValue& v) {
    if (closing_ || mode_ != Mode::cluster) {
        c->cb(ec, v);
        return;
    }
    Redirect r;
    if (!ec && v.is_error() && parse_redirect(v.str, r) && c->attempts < max_cluster_attempts) {
        ++c->attempts;
        ++redirects_;
        if (r.node.host.empty())
            r.node.host = from.host;
        if (r.kind == RedirectKind::moved) {
            owners_[r.slot] = &node(r.node);
            place_all();
            read_slot_map();
        } else {
            c->asking = true;
            c->ask_node = r.node;
        }
        if (std::error_code e = send(c))
            retry_later(c, e, no_reply);
        return;
    }
    if (!ec && v.is_error() &&
        (v.str.starts_with("TRYAGAIN") || v.str.starts_with("CLUSTERDOWN"))) {
        if (v.str.starts_with("CLUSTERDOWN"))
            read_slot_map();
        retry_later(c, ec, v);
        return;
    }
    // A dropped link or a timeout: the command may have run, so it is not sent again; the
    // master may be failing over, so the map is read again.
    if (ec == ClientErrc::connection_lost || ec == ClientErrc::timeout)
        read_slot_map();
    c->cb(ec, v);
}

// Retries c after a delay, or gives it (ec, v) now if its attempts or time are used up.
void ClusterClient::retry_later(const std::shared_ptr<Command>& c, std::error_code ec,
                                const RespValue& v) {
    const Clock::duration delay = backoff_delay(retry_min, retry_max, c->attempts);
    const Clock::time_point now = loop_.now();
    if (closing_ || mode_ != Mode::cluster || c->attempts >= max_cluster_attempts ||
        now + delay > c->deadline) {
        c->cb(ec, v);
        return;
    }
    ++c->attempts;
    c->due = now + delay;
    retries_.push_back(c);
    if (!retry_timer_.active())
        retry_timer_ = loop_.add_timer(delay, [this] { run_retries(); });
}

void ClusterClient::run_retries() {
    const Clock::time_point now = loop_.now();
    std::vector<std::shared_ptr<Command>> due, later;
    for (auto& c : retries_) {
        if (c->due <= now)
            due.push_back(std::move(c));
        else
            later.push_back(std::move(c));
    }
    retries_ = std::move(later);
    for (const auto& c : due)
        if (std::error_code ec = send(c))
            retry_later(c, ec, no_reply);
    if (!retries_.empty() && !retry_timer_.active()) {
        const auto next =
            std::min_element(retries_.begin(), retries_.end(),
                             [](const auto& a, const auto& b) { return a->due < b->due; });
        retry_timer_ = loop_.add_timer(std::max<Clock::duration>((*next)->due - now, {}),
                                       [this] { run_retries(); });
    }
}

// ---- figures --------------------------------------------------------------------------------

ClusterStats ClusterClient::stats() const {
    ClusterStats s;
    s.cluster = mode_ == Mode::cluster;
    s.redirects = redirects_;
    s.slot_map_reads = slot_map_reads_;
    s.commands.connected = s.pubsub.connected = true;
    s.commands.resp3 = s.pubsub.resp3 = true;
    const auto add = [](ClientStats& to, const ClientStats& f) {
        to.connected = to.connected && f.connected;
        to.resp3 = to.resp3 && f.resp3;
        to.connects += f.connects;
        to.reconnects += f.reconnects;
        to.in_flight += f.in_flight;
        to.timeouts += f.timeouts;
        to.latency_sum_us += f.latency_sum_us;
        to.latency_count += f.latency_count;
        to.pubsub_messages += f.pubsub_messages;
    };
    bool any_pubsub = false;
    for (const auto& [text, n] : nodes_) {
        const bool counted = mode_ == Mode::cluster  ? n->master
                             : mode_ == Mode::single ? n.get() == single_
                                                     : n->seed;
        if (!counted)
            continue;
        ++s.masters;
        if (n->commands)
            add(s.commands, n->commands->stats());
        else
            s.commands.connected = false;
        if (n->pubsub) {
            any_pubsub = true;
            add(s.pubsub, n->pubsub->stats());
        }
    }
    if (s.masters == 0)
        s.commands.connected = s.commands.resp3 = false;
    if (!any_pubsub)
        s.pubsub.connected = s.pubsub.resp3 = false;
    if (mode_ != Mode::cluster)
        s.masters = mode_ == Mode::single ? 1 : 0;
    return s;
}

} // namespace herald::redis
