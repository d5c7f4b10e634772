// The handlers a location can dispatch to, by kind. Each answers the session's current request
// (respond, stream, hold or upgrade). Called on the worker thread during dispatch.
#pragma once

#include <string>

namespace herald::http {
class HttpSession;
}
namespace herald::push {
struct ChannelInfo;
}

namespace herald::app {

void serve_static(http::HttpSession& s);   // root/index: GET, HEAD (app/static_handler.cpp)
void serve_push(http::HttpSession& s);     // push STRATEGY; (push/strategy.cpp)
void serve_publish(http::HttpSession& s);  // publish; (push/publisher.cpp)
void serve_status(http::HttpSession& s);   // status; (app/status_handler.cpp)

// A channel's figures as one JSON object (GET on a publish location, /status top channels):
// push/publisher.cpp.
std::string channel_info_json(const push::ChannelInfo& i);

// allow_origin on push and publish routes (push/strategy.cpp): a browser Origin that is not
// listed -> 403 before anything else happens; OPTIONS preflight -> 204 with the CORS headers
// (405 without allow_origin). Returns true when the request goes on to its handler.
bool check_cors(http::HttpSession& s);

} // namespace herald::app
