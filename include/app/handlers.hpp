// The handlers a location can dispatch to, by kind (Worker::dispatch picks one). Each answers the
// session's current request (respond, stream, hold or upgrade) with the worker w that owns the
// session. Called on that worker's thread during dispatch.
#pragma once

#include <string>

namespace herald::http {
class HttpSession;
}
namespace herald::push {
struct ChannelInfo;
}

namespace herald::app {

class Worker;

void serve_static(Worker& w, http::HttpSession& s);   // root/index: GET, HEAD (static_handler)
void serve_push(Worker& w, http::HttpSession& s);     // push STRATEGY; (push_handler)
void serve_publish(Worker& w, http::HttpSession& s);  // publish; (publisher)
void serve_status(Worker& w, http::HttpSession& s);   // status; (status_handler)

// A channel's figures as one JSON object (GET on a publish location, /status top channels):
// app/publisher.cpp.
std::string channel_info_json(const push::ChannelInfo& i);

// An answer of the publisher API: body (a JSON value) and a newline, as application/json,
// Cache-Control: no-cache, with the CORS headers (app/publisher.cpp).
void respond_json(http::HttpSession& s, int status, std::string body);

// allow_origin on push and publish routes (app/push_handler.cpp): a browser Origin that is not
// listed -> 403 before anything else happens; OPTIONS preflight -> 204 with the CORS headers
// (405 without allow_origin). Returns true when the request goes on to its handler.
bool check_cors(http::HttpSession& s);

} // namespace herald::app
