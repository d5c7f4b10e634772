// One Redis server or a Redis Cluster behind one interface, for the Redis broker: scripts and
// commands are routed to the master of their (first) key's hash slot (MOVED, ASK, TRYAGAIN and CLUSTERDOWN
// handled), channels are subscribed on the pub/sub link of the master that owns them
// (SSUBSCRIBE), and they move when the slot map changes. A single server is used as before:
// one command link, one pub/sub link, PUBLISH/SUBSCRIBE.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "core/string_hash.hpp"
#include "event/event_loop.hpp"
#include "redis/client.hpp"
#include "redis/cluster.hpp"
#include "redis/script.hpp"

namespace herald::redis {

struct ClusterOptions {
    // The configured servers: one server (or any node of a cluster: found out on connect), or
    // several seed nodes of one cluster.
    std::vector<NodeAddress> seeds;
    ClientOptions link; // AUTH, SELECT, timeouts and limits of every link (host, port unused)
};

struct ClusterStats {
    ClientStats commands;        // summed over the command links of the current masters (connected:
                                 // all of them up; resp3: all of them RESP3)
    ClientStats pubsub;          // the same over the pub/sub links
    bool cluster = false;        // the servers are a Redis Cluster
    std::uint64_t masters = 0;   // in the current slot map (1 for a single server)
    std::uint64_t redirects = 0; // MOVED and ASK replies followed
    std::uint64_t slot_map_reads = 0; // CLUSTER SLOTS answered
};

// Owns one command link per node it talks to (and one pub/sub link per node carrying
// channels), the slot map and the commands waiting for a retry; points to (does not own) the
// loop and the handler, which get every pub/sub event of every link (channel names say which
// channel; the links' own log lines say which node). Loop thread only; must not be destroyed
// inside its own callbacks.
//
// Until the first seed answers CLUSTER SLOTS the mode is unknown: commands wait (bounded by
// max_in_flight and failed with the answer's error if no seed answers) and channels are
// subscribed once it is known. "cluster support disabled" (or NOPERM: an ACL user without
// CLUSTER, or an unknown command) -> single-server mode for good.
// Limits: a command is retried (after TRYAGAIN, CLUSTERDOWN, a node not connected) at most
// max_cluster_attempts times within command_timeout; a command whose link dropped or timed out
// is not retried (it may have run) and fails with that error.
class ClusterClient final : private PubSubHandler {
public:
    ClusterClient(EventLoop& loop, ClusterOptions options, PubSubHandler& handler);
    ~ClusterClient();
    ClusterClient(const ClusterClient&) = delete;
    ClusterClient& operator=(const ClusterClient&) = delete;

    // Connects to the first seed and asks for the slot map. invalid_argument if a seed's host
    // is not a numeric address.
    [[nodiscard]] std::error_code start();

    // Runs script (EVALSHA, or EVAL for a server without it) on the node that owns keys[0]'s
    // slot (every key must share it). args[sharded_arg] is replaced by "1" in cluster mode
    // (SPUBLISH) and "0" on a single server (PUBLISH); pass args.size() for none. Errors as
    // Client::command (nothing queued, cb not called); otherwise cb runs exactly once.
    [[nodiscard]] std::error_code eval(const Script& script, std::span<const std::string_view> keys,
                                       std::span<const std::string_view> args,
                                       std::size_t sharded_arg, ReplyCallback cb);
    // Runs one command on the node that owns args[key_arg]'s slot, routed, retried and
    // answered as eval().
    [[nodiscard]] std::error_code command(std::span<const std::string_view> args,
                                          std::size_t key_arg, ReplyCallback cb);

    // The set of channels to keep subscribed, each on its owner's pub/sub link.
    void subscribe(std::string_view channel);
    void unsubscribe(std::string_view channel);
    // The pub/sub link that carries channel is up (false while it has none).
    bool connected(std::string_view channel) const;

    ClusterStats stats() const;
    // The servers are known to be a Redis Cluster (false while the mode is not known yet).
    bool is_cluster() const noexcept { return mode_ == Mode::cluster; }

private:
    enum class Mode : std::uint8_t { unknown, single, cluster };
    struct Node {
        NodeAddress address;
        bool seed = false, master = false;
        std::unique_ptr<Client> commands;
        std::unique_ptr<Client> pubsub; // made when a channel first lands on the node
    };
    struct Command;

    Node& node(const NodeAddress& a);
    void read_slot_map();
    void on_slot_map(const NodeAddress& from, std::error_code ec, const RespValue& v);
    void slot_map_failed(std::error_code ec);
    void apply(const SlotMap& map);
    void decided();
    void place(const std::string& channel, Node*& at);
    void place_all();
    void open_pubsub(Node& n);
    std::error_code submit(std::shared_ptr<Command> c);
    std::error_code send(const std::shared_ptr<Command>& c);
    void on_reply(const std::shared_ptr<Command>& c, const NodeAddress& from, std::error_code ec,
                  const RespValue& v);
    void retry_later(const std::shared_ptr<Command>& c, std::error_code ec, const RespValue& v);
    void refresh();
    void run_retries();
    void retire_unused();

    void on_message(std::string_view channel, std::string_view payload,
                    bool sharded) noexcept override;
    void on_subscribed(std::string_view channel, bool sharded) noexcept override;
    void on_link_down() noexcept override;
    void on_link_up(bool after_link_down) noexcept override;
    void on_subscription_ended(std::string_view channel, bool sharded) noexcept override;
    void on_subscription_refused(std::string_view error) noexcept override;

    EventLoop& loop_;
    ClusterOptions options_;
    PubSubHandler& handler_;
    Mode mode_ = Mode::unknown;
    bool closing_ = false; // in the destructor
    bool reading_map_ = false, read_map_again_ = false;
    unsigned map_failures_ = 0; // consecutive failed slot map reads (retry backoff)
    std::size_t next_seed_ = 0; // asked next while the mode is unknown
    std::map<std::string, std::unique_ptr<Node>> nodes_; // by NodeAddress::text()
    Node* single_ = nullptr;                             // single-server mode
    std::array<Node*, cluster_slots> owners_{};          // cluster mode
    std::unordered_map<std::string, Node*, StringHash, std::equal_to<>> channels_; // null: not placed yet
    std::deque<std::shared_ptr<Command>> waiting_;       // for the mode
    std::vector<std::shared_ptr<Command>> retries_;
    std::vector<std::unique_ptr<Node>> retired_; // destroyed by retire_timer_, outside callbacks
    std::uint64_t redirects_ = 0, slot_map_reads_ = 0;
    Timer map_timer_, refresh_timer_, retry_timer_, retire_timer_;
};

} // namespace herald::redis
