// wsload: command-line options. Part of the single-TU wsload build.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "url.hpp"

namespace wsload {

enum class Mode { echo, subscribe, publish, idle };
enum class Proto { ws, raw, sse, longpoll };

struct Options {
    Mode mode = Mode::echo;
    Proto proto = Proto::ws;
    Url url;                      // the first --url
    std::vector<Url> urls;        // every --url: subscriber i connects to urls[i % urls.size()]
    Url publish_url;              // subscribe: embedded publisher; publish: the target
    bool has_publisher = false;
    unsigned publish_channels = 1; // the publisher's "{ch}" in its URL takes 0..K-1 in turn
    unsigned sub_channels = 1;     // channels each subscriber follows (of publish_channels)
    unsigned conns = 64;
    unsigned inflight = 1;
    std::size_t size = 0;         // 0: mode default (32 for echo, 100 for publish)
    double duration = 5.0;
    double warmup = 1.0;
    double settle = 1.0;
    double grace = 5.0;
    double rate = 10.0;
    unsigned threads = 1;
    bool binary = false;
    bool deflate = false;         // ws: offer permessage-deflate; inflate what comes compressed
    bool json = false;            // payloads are JSON documents (compressible like real ones)
    unsigned connect_batch = 256;
    double connect_timeout = 60.0;
    unsigned src_ips = 0;         // 0: auto
    std::vector<int> cpu_pids;
    int rss_pid = 0;
    bool quiet = false;
    int redis_floor_port = 0;     // subscribe: also PUBLISH to a redis-server (redis_floor.hpp)
    unsigned redis_floor_nodes = 2;
};

inline const char* usage_text =
    "usage: wsload [--mode echo|subscribe|publish|idle] --url URL [options]\n"
    "  URL            ws://HOST:PORT/PATH, http://HOST:PORT/PATH (sse, longpoll, publish),\n"
    "                 raw://HOST:PORT (fixed-size messages without framing); repeat --url to\n"
    "                 spread the connections over several servers in turn (same scheme)\n"
    "  --proto P      ws|raw|sse|longpoll (default from the URL: ws, raw, http -> sse)\n"
    "  -c, --conns N  connections / subscribers (default 64)\n"
    "  -d, --inflight D  messages in flight per connection, echo mode (default 1)\n"
    "  -s, --size B   payload bytes (echo default 32, publish default 100)\n"
    "  -t, --duration S  measured seconds (echo, idle hold) / publishing seconds (default 5)\n"
    "  --warmup S     echo: unmeasured seconds before the measurement (default 1)\n"
    "  --binary       echo: binary frames instead of text\n"
    "  --deflate      ws: offer permessage-deflate (no context takeover); echo sends compressed\n"
    "                 frames, subscribe inflates; the result line gets wire bytes either way\n"
    "  --json         echo and publish payloads are JSON records (2.5x compressible at 1 KiB)\n"
    "                 instead of one repeated letter\n"
    "  --publish URL  subscribe: also POST messages to URL (after --settle) at --rate for -t\n"
    "  --publish-channels K  publish to K channels in turn: \"{ch}\" in the --publish URL\n"
    "                 becomes 0..K-1 (default 1)\n"
    "  --sub-channels M  each subscriber follows M of those K channels (a channel list, or\n"
    "                 one per --url): it expects M/K of what is published (default 1)\n"
    "  --rate R       messages per second to publish (default 10)\n"
    "  --settle S     subscribe: pause between all-subscribed and publishing (default 1)\n"
    "  --grace S      subscribe: longest wait for stragglers after the last publish (default 5)\n"
    "  --threads N    event-loop threads (default 1)\n"
    "  --connect-batch N  connections being opened at once per thread (default 256)\n"
    "  --connect-timeout S  give up waiting for all connections after S (default 60)\n"
    "  --src-ips K    spread source addresses over 127.0.0.1..K (default: one per 25000 conns)\n"
    "  --cpu-pid PID  report this process's CPU time over the measured window (repeatable:\n"
    "                 the sum, and each process's own as cpu_s_PID=)\n"
    "  --rss-pid PID  idle: report this process's RSS growth per connection\n"
    "  --redis-floor PORT  subscribe: over the publishing window, also PUBLISH at --rate to the\n"
    "                 redis-server on 127.0.0.1:PORT that --redis-floor-nodes (default 2) other\n"
    "                 connections follow, and wait for every copy before the next (the floor of\n"
    "                 Redis's work per message; result fields floor_published, floor_failed)\n"
    "  -q, --quiet    only the final 'result' line\n";

[[noreturn]] inline void usage_exit(const char* why) {
    if (why) std::fprintf(stderr, "wsload: %s\n", why);
    std::fputs(usage_text, stderr);
    std::exit(2);
}

inline Options parse_options(int argc, char** argv) {
    Options o;
    std::vector<std::string> urls;
    std::string proto;
    auto value = [&](int& i) -> std::string {
        if (i + 1 >= argc) usage_exit((std::string("missing value for ") + argv[i]).c_str());
        return argv[++i];
    };
    auto num = [&](int& i) { return std::strtod(value(i).c_str(), nullptr); };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--mode") {
            const std::string m = value(i);
            if (m == "echo") o.mode = Mode::echo;
            else if (m == "subscribe") o.mode = Mode::subscribe;
            else if (m == "publish") o.mode = Mode::publish;
            else if (m == "idle") o.mode = Mode::idle;
            else usage_exit("unknown mode");
        } else if (a == "--url") urls.push_back(value(i));
        else if (a == "--proto") proto = value(i);
        else if (a == "--raw") proto = "raw";
        else if (a == "-c" || a == "--conns") o.conns = static_cast<unsigned>(num(i));
        else if (a == "-d" || a == "--inflight") o.inflight = static_cast<unsigned>(num(i));
        else if (a == "-s" || a == "--size") o.size = static_cast<std::size_t>(num(i));
        else if (a == "-t" || a == "--duration") o.duration = num(i);
        else if (a == "--warmup") o.warmup = num(i);
        else if (a == "--settle") o.settle = num(i);
        else if (a == "--grace") o.grace = num(i);
        else if (a == "--rate") o.rate = num(i);
        else if (a == "--publish-channels") o.publish_channels = static_cast<unsigned>(num(i));
        else if (a == "--sub-channels") o.sub_channels = static_cast<unsigned>(num(i));
        else if (a == "--threads") o.threads = static_cast<unsigned>(num(i));
        else if (a == "--binary") o.binary = true;
        else if (a == "--deflate") o.deflate = true;
        else if (a == "--json") o.json = true;
        else if (a == "--publish") { o.publish_url = parse_url(value(i)); o.has_publisher = true; }
        else if (a == "--connect-batch") o.connect_batch = static_cast<unsigned>(num(i));
        else if (a == "--connect-timeout") o.connect_timeout = num(i);
        else if (a == "--src-ips") o.src_ips = static_cast<unsigned>(num(i));
        else if (a == "--cpu-pid") o.cpu_pids.push_back(static_cast<int>(num(i)));
        else if (a == "--rss-pid") o.rss_pid = static_cast<int>(num(i));
        else if (a == "--redis-floor") o.redis_floor_port = static_cast<int>(num(i));
        else if (a == "--redis-floor-nodes") o.redis_floor_nodes = static_cast<unsigned>(num(i));
        else if (a == "-q" || a == "--quiet") o.quiet = true;
        else if (a == "-h" || a == "--help") usage_exit(nullptr);
        else usage_exit(("unknown option " + a).c_str());
    }
    if (urls.empty()) usage_exit("--url is required");
    for (const std::string& u : urls) o.urls.push_back(parse_url(u));
    o.url = o.urls.front();
    for (const Url& u : o.urls)
        if (u.scheme != o.url.scheme) usage_exit("every --url needs the same scheme");
    if (o.urls.size() > 1 && o.mode != Mode::subscribe && o.mode != Mode::idle)
        usage_exit("several --url only in subscribe and idle modes");
    if (o.mode == Mode::publish) {
        o.publish_url = o.url;
        o.has_publisher = true;
        o.conns = 0;
    }
    if (proto.empty()) {
        o.proto = o.url.scheme == "ws" ? Proto::ws : o.url.scheme == "raw" ? Proto::raw : Proto::sse;
    } else if (proto == "ws") o.proto = Proto::ws;
    else if (proto == "raw") o.proto = Proto::raw;
    else if (proto == "sse") o.proto = Proto::sse;
    else if (proto == "longpoll") o.proto = Proto::longpoll;
    else usage_exit("unknown --proto");
    if (o.size == 0) o.size = o.mode == Mode::echo ? 32 : 100;
    if (o.mode == Mode::echo && (o.proto == Proto::sse || o.proto == Proto::longpoll))
        usage_exit("echo mode needs ws or raw");
    if (o.mode == Mode::echo && (o.inflight == 0 || o.inflight > 4096)) usage_exit("--inflight must be 1..4096");
    if (o.threads == 0 || o.threads > 64) usage_exit("--threads must be 1..64");
    if (o.connect_batch == 0) o.connect_batch = 1;
    if (o.src_ips == 0) o.src_ips = o.conns / 25000 + 1;
    if (o.src_ips > 254) usage_exit("--src-ips at most 254");
    if (o.rate <= 0) usage_exit("--rate must be positive");
    if (o.redis_floor_port && (o.mode != Mode::subscribe || !o.has_publisher))
        usage_exit("--redis-floor needs --mode subscribe with --publish");
    if (o.redis_floor_nodes == 0 || o.redis_floor_nodes > 64) usage_exit("--redis-floor-nodes must be 1..64");
    if (o.publish_channels == 0 || o.publish_channels > 1000) usage_exit("--publish-channels must be 1..1000");
    if (o.sub_channels == 0 || o.sub_channels > o.publish_channels)
        usage_exit("--sub-channels must be 1..--publish-channels");
    if (o.publish_channels > 1 && o.publish_url.target.find("{ch}") == std::string::npos)
        usage_exit("--publish-channels needs \"{ch}\" in the --publish URL");
    return o;
}

} // namespace wsload
