// The Redis broker: several herald nodes share channels through one Redis server. Redis holds
// each channel's id counter, epoch and recent messages (redis/script.hpp); every node keeps a
// copy of the channels its clients use in a LocalBroker and fans out from it, so Redis sees
// one publish per message and one pub/sub subscription per channel per node, whatever the
// number of subscribers. README "Several nodes: the Redis broker" describes the behaviour.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "event/event_loop.hpp"
#include "push/broker.hpp"
#include "redis/client.hpp"
#include "redis/cluster.hpp"

namespace herald::push {

struct RedisBrokerOptions {
    redis::ClientOptions link;      // the Redis server, AUTH, SELECT, timeouts
    // Several: the seed nodes of a Redis Cluster (link's host and port are then unused); none:
    // link's host and port. One server may be a single Redis or any node of a cluster.
    std::vector<redis::NodeAddress> servers;
    std::string prefix = "herald:"; // of every key and pub/sub channel name
    // A channel with no subscriber on this node and no visit (subscribe, poll, info) for this
    // long stops being followed: its pub/sub subscription and node copy go. An autocreated
    // channel idle here for channel_idle_timeout goes sooner (collect_idle()).
    Clock::duration linger = std::chrono::seconds(30);
};

struct RedisLinkStats {
    // The node's command links and pub/sub links: one of each, or in a Redis Cluster one of
    // each per master, summed (connected: every one up).
    redis::ClientStats commands;
    redis::ClientStats pubsub;
    bool cluster = false;             // the servers are a Redis Cluster
    std::uint64_t masters = 0;        // masters in the slot map (1 for a single server)
    std::uint64_t redirects = 0;      // MOVED and ASK replies followed
    std::uint64_t catch_up_reads = 0; // channel reads after a link or id gap (and first use)
    std::uint64_t resets = 0;         // channel lives replaced (data lost, trimmed gap)
    std::uint64_t mirrored = 0;       // channels this node follows now
};

// `home` is the loop (thread) that owns the node's two Redis links (one for commands, one for
// pub/sub) and runs reconcile(); the broker is created, reconciled and destroyed on it, and
// must be destroyed before it. Worker loops talk to it by posting; answers come back the same
// way.
std::unique_ptr<Broker> make_redis_broker(EventLoop& home, RedisBrokerOptions options,
                                          Clock& clock = Clock::system());

// The link figures of a broker made by make_redis_broker (for /status); false for another
// broker. Any thread.
bool redis_link_stats(const Broker& b, RedisLinkStats& out);

} // namespace herald::push
