// /status: connections, requests, subscribers per strategy, channels and message counters, as
// JSON or (?format=prometheus) Prometheus text exposition.
#include "app/handlers.hpp"
#include "app/worker.hpp"
#include "http/session.hpp"
#include "http/target.hpp"
#include "push/broker.hpp"

namespace herald::app {

void serve_status(http::HttpSession& s) {
    const http::Request& req = s.request();
    if (req.method != http::Method::get && req.method != http::Method::head) {
        s.respond_error(405);
        return;
    }
    std::uint64_t connections = 0, requests = 0, accepted = 0;
    for (Worker* w : s.worker().all_workers()) {
        connections += w->server().active.load(std::memory_order_relaxed);
        accepted += w->server().accepted.load(std::memory_order_relaxed);
        requests += w->stats().requests.load(std::memory_order_relaxed);
    }
    push::BrokerStats b = s.worker().broker().stats();
    bool prom = http::query_arg(req.query, "format").value_or("") == "prometheus";
    std::string out;
    if (prom) {
        auto metric = [&out](const char* name, const char* type, const char* help,
                             std::uint64_t v) {
            out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type +
                   "\n" + name + " " + std::to_string(v) + "\n";
        };
        metric("herald_connections", "gauge", "Open client connections.", connections);
        metric("herald_connections_accepted_total", "counter", "Accepted connections.", accepted);
        metric("herald_requests_total", "counter", "HTTP requests parsed.", requests);
        metric("herald_channels", "gauge", "Channels.", b.channels);
        metric("herald_messages_published_total", "counter", "Messages published.", b.published);
        metric("herald_messages_delivered_total", "counter", "Message deliveries.", b.delivered);
        metric("herald_messages_dropped_total", "counter", "Deliveries dropped (slow consumers).",
               b.dropped);
        out += "# HELP herald_subscribers Live subscribers by strategy.\n"
               "# TYPE herald_subscribers gauge\n";
        for (int k = 1; k <= 5; ++k)
            out += std::string("herald_subscribers{strategy=\"") +
                   to_string(static_cast<PushStrategy>(k)) + "\"} " +
                   std::to_string(b.subscribers[static_cast<std::size_t>(k)]) + "\n";
    } else {
        out = "{\"connections\":" + std::to_string(connections) +
              ",\"accepted\":" + std::to_string(accepted) +
              ",\"requests\":" + std::to_string(requests) + ",\"subscribers\":{";
        for (int k = 1; k <= 5; ++k)
            out += std::string(k > 1 ? "," : "") + "\"" +
                   to_string(static_cast<PushStrategy>(k)) + "\":" +
                   std::to_string(b.subscribers[static_cast<std::size_t>(k)]);
        out += "},\"channels\":" + std::to_string(b.channels) +
               ",\"published\":" + std::to_string(b.published) +
               ",\"delivered\":" + std::to_string(b.delivered) +
               ",\"dropped\":" + std::to_string(b.dropped) +
               ",\"workers\":" + std::to_string(s.worker().all_workers().size()) + "}\n";
    }
    http::ResponseHead head(200);
    head.header("Content-Type", prom ? "text/plain; version=0.0.4" : "application/json");
    head.header("Cache-Control", "no-cache");
    s.add_cors(head);
    s.respond(std::move(head), std::move(out));
}

} // namespace herald::app
