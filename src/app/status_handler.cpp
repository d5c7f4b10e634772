// /status: connections, requests, subscribers per strategy, channels and message counters,
// delivery latency per strategy and per-worker loop figures, as JSON or
// (?format=prometheus) Prometheus text exposition.
#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "app/handlers.hpp"
#include "app/worker.hpp"
#include "core/histogram.hpp"
#include "http/session.hpp"
#include "http/target.hpp"
#include "push/broker.hpp"
#include "push/redis_broker.hpp"
#include "ws/deflate_stats.hpp"

namespace herald::app {
namespace {

struct WorkerFigures {
    std::uint64_t connections = 0, iterations = 0, busy_ns = 0, wait_ns = 0, queued = 0;
};

// Everything /status reports, read once (relaxed loads; figures may be a few events apart).
struct Figures {
    std::uint64_t connections = 0, requests = 0, accepted = 0;
    push::BrokerStats broker;
    Histogram::Snapshot latency[6];  // by PushStrategy
    Histogram::Snapshot latency_all;
    std::vector<WorkerFigures> workers;
    push::TopChannels top;
    std::vector<const push::ChannelInfo*> top_union;  // by subscribers, then by rate; no repeats
    ws::DeflateTotals deflate;
    // Per-address limits: refusals by limit, addresses tracked now.
    std::uint64_t limit_conn = 0, limit_rate = 0, limit_full = 0, limit_addresses = 0;
    std::uint64_t auth_sent = 0, auth_admitted = 0, auth_refused = 0, auth_failed = 0,
                  auth_timeouts = 0, auth_cache_hits = 0;
    std::uint64_t hooks_sent = 0, hooks_failed = 0, hooks_dropped = 0, hooks_retried = 0;
    bool redis = false;  // the broker is the Redis broker: redis_links is set
    push::RedisLinkStats redis_links;
};

void add_access_figures(Figures& f, Worker& w) {
    const AuthStats& a = w.stats().auth;
    f.auth_sent += a.sent.load(std::memory_order_relaxed);
    f.auth_admitted += a.admitted.load(std::memory_order_relaxed);
    f.auth_refused += a.refused.load(std::memory_order_relaxed);
    f.auth_failed += a.failed.load(std::memory_order_relaxed);
    f.auth_timeouts += a.timeouts.load(std::memory_order_relaxed);
    f.auth_cache_hits += a.cache_hits.load(std::memory_order_relaxed);
    const HookStats& h = w.stats().hooks;
    f.hooks_sent += h.sent.load(std::memory_order_relaxed);
    f.hooks_failed += h.failed.load(std::memory_order_relaxed);
    f.hooks_dropped += h.dropped.load(std::memory_order_relaxed);
    f.hooks_retried += h.retried.load(std::memory_order_relaxed);
}

Figures gather(Worker& self) {
    Figures f;
    for (Worker* w : self.all_workers()) {
        WorkerFigures wf;
        wf.connections = w->server().active.load(std::memory_order_relaxed);
        wf.queued = w->server().queued.load(std::memory_order_relaxed);
        const EventLoop::Stats& ls = w->loop().stats();
        wf.iterations = ls.iterations.load(std::memory_order_relaxed);
        wf.busy_ns = ls.busy_ns.load(std::memory_order_relaxed);
        wf.wait_ns = ls.wait_ns.load(std::memory_order_relaxed);
        f.workers.push_back(wf);
        f.connections += wf.connections;
        f.accepted += w->server().accepted.load(std::memory_order_relaxed);
        f.requests += w->stats().requests.load(std::memory_order_relaxed);
        for (int k = 1; k <= 5; ++k) f.latency[k].merge(w->stats().latency[k].snapshot());
        add_access_figures(f, *w);
    }
    for (int k = 1; k <= 5; ++k) f.latency_all.merge(f.latency[k]);
    f.broker = self.broker().stats();
    f.redis = push::redis_link_stats(self.broker(), f.redis_links);
    f.deflate = ws::deflate_totals();
    const net::AddrLimiter& lim = *self.addr_limiter();
    f.limit_conn = lim.rejected_conn.load(std::memory_order_relaxed);
    f.limit_rate = lim.rejected_rate.load(std::memory_order_relaxed);
    f.limit_full = lim.rejected_full.load(std::memory_order_relaxed);
    f.limit_addresses = lim.size();
    f.top = self.broker().top_channels(self.routes().config().status_top_channels);
    for (const auto* list : {&f.top.by_subscribers, &f.top.by_publish_rate})
        for (const push::ChannelInfo& i : *list)
            if (std::none_of(f.top_union.begin(), f.top_union.end(),
                             [&i](const push::ChannelInfo* u) { return u->name == i.name; }))
                f.top_union.push_back(&i);
    return f;
}

void append(std::string& out, std::initializer_list<std::string_view> parts) {
    for (std::string_view p : parts) out += p;
}

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

std::string seconds(std::uint64_t ns) { return num(static_cast<double>(ns) / 1e9); }

// labels (optional): `key="value",...` of the first sample; further samples follow by hand.
struct PromSample {
    std::string_view labels; // `key="value",...` without braces; "" for none
    std::uint64_t value;
};

// One metric family: its HELP and TYPE lines, then a line per sample.
void prom_family(std::string& out, const char* name, const char* type, const char* help,
                 std::initializer_list<PromSample> samples) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const PromSample& p : samples)
        out += name + (p.labels.empty() ? "" : "{" + std::string(p.labels) + "}") + " " +
               std::to_string(p.value) + "\n";
}

void prom_metric(std::string& out, const char* name, const char* type, const char* help,
                 std::uint64_t v) {
    prom_family(out, name, type, help, {{{}, v}});
}

void prom_latency(std::string& out, const Figures& f) {
    out += "# HELP herald_delivery_latency_seconds Publish to the start of the write batch that "
           "handed a live delivery's last byte to the socket.\n"
           "# TYPE herald_delivery_latency_seconds histogram\n";
    for (int k = 1; k <= 5; ++k) {
        const Histogram::Snapshot& h = f.latency[k];
        const std::string label = std::string("{strategy=\"") + to_string(static_cast<config::PushStrategy>(k)) + "\"";
        std::uint64_t cum = 0;
        for (std::size_t i = 0; i < Histogram::buckets; ++i) {
            cum += h.counts[i];
            const std::string le = i < Histogram::bounds_us.size()
                                       ? num(static_cast<double>(Histogram::bounds_us[i]) / 1e6)
                                       : "+Inf";
            append(out, {"herald_delivery_latency_seconds_bucket", label, ",le=\"", le, "\"} ",
                         std::to_string(cum), "\n"});
        }
        append(out, {"herald_delivery_latency_seconds_sum", label, "} ", seconds(h.sum_ns), "\n"});
        append(out, {"herald_delivery_latency_seconds_count", label, "} ",
                     std::to_string(h.count), "\n"});
    }
}

void prom_workers(std::string& out, const Figures& f) {
    struct Column {
        const char* name;
        const char* type;
        const char* help;
        bool is_seconds;
        std::uint64_t WorkerFigures::*field;
    };
    static const Column cols[] = {
        {"herald_worker_connections", "gauge", "Open connections on the worker.", false,
         &WorkerFigures::connections},
        {"herald_worker_loop_iterations_total", "counter", "Event loop iterations.", false,
         &WorkerFigures::iterations},
        {"herald_worker_busy_seconds_total", "counter", "Time spent running the loop.", true,
         &WorkerFigures::busy_ns},
        {"herald_worker_wait_seconds_total", "counter", "Time spent waiting for events.", true,
         &WorkerFigures::wait_ns},
        {"herald_worker_queued_bytes", "gauge", "Output bytes queued, not yet written.", false,
         &WorkerFigures::queued},
    };
    for (const Column& c : cols) {
        out += std::string("# HELP ") + c.name + " " + c.help + "\n# TYPE " + c.name + " " +
               c.type + "\n";
        for (std::size_t i = 0; i < f.workers.size(); ++i) {
            const std::uint64_t v = f.workers[i].*c.field;
            out += std::string(c.name) + "{worker=\"" + std::to_string(i) + "\"} " +
                   (c.is_seconds ? seconds(v) : std::to_string(v)) + "\n";
        }
    }
}

// Per-channel series only for the top channels (at most 2 * status_top_channels), so the
// number of series stays bounded however many channels exist.
void prom_channels(std::string& out, const Figures& f) {
    struct Column {
        const char* name;
        const char* type;
        const char* help;
    };
    static const Column cols[] = {
        {"herald_channel_subscribers", "gauge", "Subscribers of a top channel."},
        {"herald_channel_published_total", "counter", "Messages published to a top channel."},
        {"herald_channel_delivered_total", "counter", "Messages delivered from a top channel."},
        {"herald_channel_dropped_total", "counter", "Subscribers of a top channel dropped."},
        {"herald_channel_buffered_messages", "gauge", "Messages buffered for resume."},
        {"herald_channel_publish_rate", "gauge", "Publish rate, messages/s (decaying average)."},
    };
    for (std::size_t c = 0; c < std::size(cols); ++c) {
        out += std::string("# HELP ") + cols[c].name + " " + cols[c].help + "\n# TYPE " +
               cols[c].name + " " + cols[c].type + "\n";
        for (const push::ChannelInfo* i : f.top_union) {
            const double v[] = {static_cast<double>(i->total_subscribers),
                                static_cast<double>(i->published),
                                static_cast<double>(i->delivered),
                                static_cast<double>(i->dropped),
                                static_cast<double>(i->buffered), i->publish_rate};
            out += std::string(cols[c].name) + "{channel=\"" + i->name + "\"} " + num(v[c]) + "\n";
        }
    }
}

void prom_redis(std::string& out, const Figures& f) {
    const push::RedisLinkStats& r = f.redis_links;
    prom_family(out, "herald_redis_connected", "gauge", "1 if the Redis link is up.",
                {{"link=\"commands\"", r.commands.connected ? 1u : 0u},
                 {"link=\"pubsub\"", r.pubsub.connected ? 1u : 0u}});
    prom_family(out, "herald_redis_reconnects_total", "counter",
                "Redis links established again after a loss or a failed attempt.",
                {{"link=\"commands\"", r.commands.reconnects},
                 {"link=\"pubsub\"", r.pubsub.reconnects}});
    prom_metric(out, "herald_redis_commands_in_flight", "gauge",
                "Redis commands awaiting a reply.", r.commands.in_flight);
    prom_metric(out, "herald_redis_command_timeouts_total", "counter",
                "Redis commands not answered within redis_timeout.", r.commands.timeouts);
    out += "# HELP herald_redis_command_latency_seconds Redis command round trips.\n"
           "# TYPE herald_redis_command_latency_seconds summary\n"
           "herald_redis_command_latency_seconds_sum " +
           num(static_cast<double>(r.commands.latency_sum_us) / 1e6) +
           "\nherald_redis_command_latency_seconds_count " +
           std::to_string(r.commands.latency_count) + "\n";
    prom_metric(out, "herald_redis_pubsub_messages_total", "counter",
                "Messages received on the pub/sub link.", r.pubsub.pubsub_messages);
    prom_metric(out, "herald_redis_catch_up_reads_total", "counter",
                "Channel reads from Redis (first use, after a lost link or an id gap).",
                r.catch_up_reads);
    prom_metric(out, "herald_redis_channel_resets_total", "counter",
                "Channel lives replaced because Redis lost or trimmed what this node lacked.",
                r.resets);
    prom_metric(out, "herald_redis_channels", "gauge", "Channels this node follows in Redis.",
                r.mirrored);
    prom_metric(out, "herald_redis_masters", "gauge",
                "Redis masters this node has links to (1 for a single server).", r.masters);
    prom_metric(out, "herald_redis_redirects_total", "counter",
                "Redis Cluster MOVED and ASK replies followed.", r.redirects);
}

std::string prometheus(const Figures& f) {
    const push::BrokerStats& b = f.broker;
    std::string out;
    prom_metric(out, "herald_connections", "gauge", "Open client connections.", f.connections);
    prom_metric(out, "herald_connections_accepted_total", "counter", "Accepted connections.",
                f.accepted);
    prom_metric(out, "herald_requests_total", "counter", "HTTP requests parsed.", f.requests);
    prom_metric(out, "herald_channels", "gauge", "Channels.", b.channels);
    prom_metric(out, "herald_messages_published_total", "counter", "Messages published.",
                b.published);
    prom_metric(out, "herald_messages_delivered_total", "counter", "Message deliveries.",
                b.delivered);
    prom_metric(out, "herald_messages_dropped_total", "counter",
                "Deliveries dropped (slow consumers).", b.dropped);
    out += "# HELP herald_subscribers Live subscribers by strategy.\n"
           "# TYPE herald_subscribers gauge\n";
    for (int k = 1; k <= 5; ++k)
        out += std::string("herald_subscribers{strategy=\"") + to_string(static_cast<config::PushStrategy>(k)) + "\"} " +
               std::to_string(b.subscribers[static_cast<std::size_t>(k)]) + "\n";
    const ws::DeflateTotals& d = f.deflate;
    prom_family(out, "herald_ws_deflate_messages_total", "counter",
                "WebSocket messages compressed (sent) or inflated (received).",
                {{"direction=\"sent\"", d.sent_messages},
                 {"direction=\"received\"", d.received_messages}});
    prom_family(out, "herald_ws_deflate_bytes_total", "counter",
                "Payload bytes of those messages, uncompressed (plain) and compressed (wire).",
                {{"direction=\"sent\",form=\"plain\"", d.sent_plain},
                 {"direction=\"sent\",form=\"wire\"", d.sent_compressed},
                 {"direction=\"received\",form=\"wire\"", d.received_compressed},
                 {"direction=\"received\",form=\"plain\"", d.received_plain}});
    prom_family(out, "herald_limit_rejected_total", "counter",
                "Requests refused by per-address limits (table_full: no room for the address).",
                {{"limit=\"conn\"", f.limit_conn},
                 {"limit=\"rate\"", f.limit_rate},
                 {"limit=\"table_full\"", f.limit_full}});
    prom_metric(out, "herald_limit_addresses", "gauge",
                "Client addresses tracked by the per-address limits.", f.limit_addresses);
    prom_metric(out, "herald_auth_requests_sent_total", "counter",
                "auth_request calls sent to the application.", f.auth_sent);
    prom_family(out, "herald_auth_request_decisions_total", "counter",
                "auth_request decisions (answers and cache hits); timeouts are among failed.",
                {{"result=\"admitted\"", f.auth_admitted},
                 {"result=\"refused\"", f.auth_refused},
                 {"result=\"failed\"", f.auth_failed}});
    prom_metric(out, "herald_auth_request_timeouts_total", "counter",
                "auth_request calls not answered within auth_request_timeout.", f.auth_timeouts);
    prom_metric(out, "herald_auth_request_cache_hits_total", "counter",
                "auth_request decisions taken from auth_request_cache.", f.auth_cache_hits);
    prom_family(out, "herald_hook_events_total", "counter",
                "on_subscribe/on_unsubscribe events: sent (2xx), failed (every attempt), "
                "dropped (queue full).",
                {{"result=\"sent\"", f.hooks_sent},
                 {"result=\"failed\"", f.hooks_failed},
                 {"result=\"dropped\"", f.hooks_dropped}});
    prom_metric(out, "herald_hook_retries_total", "counter", "Hook attempts after the first.",
                f.hooks_retried);
    if (f.redis) prom_redis(out, f);
    prom_latency(out, f);
    prom_workers(out, f);
    prom_channels(out, f);
    return out;
}

// with_buckets: per-bucket counts too (not cumulative; the last is +Inf), so a reader can
// take the difference of two readings and get the quantiles of that interval alone.
std::string json_latency(const Histogram::Snapshot& h, bool with_buckets = false) {
    std::string out = "{\"count\":" + std::to_string(h.count) + ",\"p50_ms\":" +
                      num(h.quantile_us(0.5) / 1000) + ",\"p99_ms\":" +
                      num(h.quantile_us(0.99) / 1000) +
                      ",\"sum_ms\":" + num(static_cast<double>(h.sum_ns) / 1e6);
    if (with_buckets) {
        out += ",\"buckets\":[";
        for (std::size_t i = 0; i < Histogram::buckets; ++i)
            out += (i ? "," : "") + std::to_string(h.counts[i]);
        out += "]";
    }
    return out + "}";
}

std::string bounds_ms() {
    std::string out;
    for (std::size_t i = 0; i < Histogram::bounds_us.size(); ++i)
        out += (i ? "," : "") + num(static_cast<double>(Histogram::bounds_us[i]) / 1000);
    return out;
}

std::string json_channels(const std::vector<push::ChannelInfo>& list) {
    std::string out = "[";
    for (std::size_t i = 0; i < list.size(); ++i)
        out += (i ? "," : "") + channel_info_json(list[i]);
    return out + "]";
}

// ,"redis":{...} with the Redis broker, else "".
std::string json_redis(const Figures& f) {
    if (!f.redis) return {};
    const push::RedisLinkStats& r = f.redis_links;
    const auto link = [](const redis::ClientStats& c) {
        return std::string("{\"connected\":") + (c.connected ? "true" : "false") +
               ",\"connects\":" + std::to_string(c.connects) +
               ",\"reconnects\":" + std::to_string(c.reconnects) +
               ",\"in_flight\":" + std::to_string(c.in_flight) +
               ",\"timeouts\":" + std::to_string(c.timeouts) + ",\"latency_avg_ms\":" +
               num(c.latency_count ? static_cast<double>(c.latency_sum_us) / 1e3 /
                                         static_cast<double>(c.latency_count)
                                   : 0) +
               ",\"messages\":" + std::to_string(c.pubsub_messages) + "}";
    };
    return ",\"redis\":{\"commands\":" + link(r.commands) + ",\"pubsub\":" + link(r.pubsub) +
           ",\"catch_up_reads\":" + std::to_string(r.catch_up_reads) +
           ",\"resets\":" + std::to_string(r.resets) +
           ",\"channels\":" + std::to_string(r.mirrored) +
           ",\"cluster\":" + (r.cluster ? "true" : "false") +
           ",\"masters\":" + std::to_string(r.masters) +
           ",\"redirects\":" + std::to_string(r.redirects) + "}";
}

std::string json(const Figures& f) {
    const push::BrokerStats& b = f.broker;
    std::string out = "{\"connections\":" + std::to_string(f.connections) +
                      ",\"accepted\":" + std::to_string(f.accepted) +
                      ",\"requests\":" + std::to_string(f.requests) + ",\"subscribers\":{";
    for (int k = 1; k <= 5; ++k)
        out += std::string(k > 1 ? "," : "") + "\"" + to_string(static_cast<config::PushStrategy>(k)) + "\":" +
               std::to_string(b.subscribers[static_cast<std::size_t>(k)]);
    out += "},\"channels\":" + std::to_string(b.channels) +
           ",\"published\":" + std::to_string(b.published) +
           ",\"delivered\":" + std::to_string(b.delivered) +
           ",\"dropped\":" + std::to_string(b.dropped) +
           ",\"ws_deflate\":{\"sent\":{\"messages\":" + std::to_string(f.deflate.sent_messages) +
           ",\"plain_bytes\":" + std::to_string(f.deflate.sent_plain) +
           ",\"wire_bytes\":" + std::to_string(f.deflate.sent_compressed) +
           "},\"received\":{\"messages\":" + std::to_string(f.deflate.received_messages) +
           ",\"wire_bytes\":" + std::to_string(f.deflate.received_compressed) +
           ",\"plain_bytes\":" + std::to_string(f.deflate.received_plain) + "}}" +
           ",\"limits\":{\"rejected_conn\":" + std::to_string(f.limit_conn) +
           ",\"rejected_rate\":" + std::to_string(f.limit_rate) +
           ",\"rejected_table_full\":" + std::to_string(f.limit_full) +
           ",\"addresses\":" + std::to_string(f.limit_addresses) + "}" +
           ",\"auth_request\":{\"sent\":" + std::to_string(f.auth_sent) +
           ",\"admitted\":" + std::to_string(f.auth_admitted) +
           ",\"refused\":" + std::to_string(f.auth_refused) +
           ",\"failed\":" + std::to_string(f.auth_failed) +
           ",\"timeouts\":" + std::to_string(f.auth_timeouts) +
           ",\"cache_hits\":" + std::to_string(f.auth_cache_hits) + "}" +
           ",\"hooks\":{\"sent\":" + std::to_string(f.hooks_sent) +
           ",\"failed\":" + std::to_string(f.hooks_failed) +
           ",\"dropped\":" + std::to_string(f.hooks_dropped) +
           ",\"retried\":" + std::to_string(f.hooks_retried) + "}" +
           json_redis(f) + ",\"workers\":" + std::to_string(f.workers.size()) +
           ",\"latency\":{\"bounds_ms\":[" + bounds_ms() + "],\"all\":" +
           json_latency(f.latency_all, true);
    for (int k = 1; k <= 5; ++k)
        out += std::string(",\"") + to_string(static_cast<config::PushStrategy>(k)) + "\":" + json_latency(f.latency[k]);
    out += "},\"top_channels\":{\"by_subscribers\":" + json_channels(f.top.by_subscribers) +
           ",\"by_publish_rate\":" + json_channels(f.top.by_publish_rate) + "},\"threads\":[";
    for (std::size_t i = 0; i < f.workers.size(); ++i) {
        const WorkerFigures& w = f.workers[i];
        out += std::string(i ? "," : "") + "{\"connections\":" + std::to_string(w.connections) +
               ",\"iterations\":" + std::to_string(w.iterations) +
               ",\"busy_s\":" + seconds(w.busy_ns) + ",\"wait_s\":" + seconds(w.wait_ns) +
               ",\"queued_bytes\":" + std::to_string(w.queued) + "}";
    }
    return out + "]}\n";
}

} // namespace

void serve_status(Worker& w, http::HttpSession& s) {
    const http::Request& req = s.request();
    if (req.method != http::Method::get && req.method != http::Method::head) {
        s.respond_error(405);
        return;
    }
    const bool prom = http::query_arg(req.query, "format").value_or("") == "prometheus";
    const Figures f = gather(w);
    http::ResponseHead head(200);
    head.header("Content-Type", prom ? "text/plain; version=0.0.4" : "application/json");
    head.header("Cache-Control", "no-cache");
    s.add_cors(head);
    s.respond(std::move(head), prom ? prometheus(f) : json(f));
}

} // namespace herald::app
