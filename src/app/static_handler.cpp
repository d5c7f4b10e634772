// Static files: GET/HEAD, index files, validators, conditional GET, single ranges, sendfile.
#include <string>

#include "app/handlers.hpp"
#include "app/worker.hpp"
#include "http/session.hpp"
#include "http/static_files.hpp"

namespace herald::app {
namespace {

using http::ResponseHead;

void send_file(http::HttpSession& s, const http::FileInfo& f,
               const std::shared_ptr<const http::FileInfo>& keep) {
    const http::Request& req = s.request();
    const config::LocationConf& loc = s.location();
    const config::Config& cfg = s.routes()->config();
    std::string_view type = mime_type_for(cfg, loc.limits, f.path);
    if (http::precondition_failed(req.header("If-Match"), req.header("If-Unmodified-Since"),
                                  f.etag, f.mtime)) {
        s.respond_error(412);
        return;
    }
    if (http::not_modified(req.header("If-None-Match"), req.header("If-Modified-Since"), f.etag,
                           f.mtime)) {
        ResponseHead head(304);
        head.header("ETag", f.etag).header("Last-Modified", f.last_modified);
        s.respond(std::move(head), {});
        return;
    }
    std::uint64_t first = 0, length = f.size;
    int status = 200;
    std::string_view range = req.header("Range");
    // If-Range with a validator that does not match: serve the whole representation.
    std::string_view if_range = req.header("If-Range");
    if (!range.empty() && (if_range.empty() || if_range == f.etag || if_range == f.last_modified)) {
        http::ByteRange r = http::parse_range(range, f.size);
        if (r.kind == http::ByteRange::Kind::unsatisfiable) {
            ResponseHead head(416);
            head.header("Content-Range", "bytes */" + std::to_string(f.size));
            head.header("Content-Type", "text/html");
            s.respond(std::move(head), http::error_page(416));
            return;
        }
        if (r.kind == http::ByteRange::Kind::ok) {
            status = 206;
            first = r.first;
            length = r.last - r.first + 1;
        }
    }
    ResponseHead head(status);
    head.header("Content-Type", type);
    head.header("Last-Modified", f.last_modified).header("ETag", f.etag);
    head.header("Accept-Ranges", "bytes");
    if (status == 206)
        head.header("Content-Range", "bytes " + std::to_string(first) + "-" +
                                         std::to_string(first + length - 1) + "/" +
                                         std::to_string(f.size));
    s.respond_file(std::move(head), keep->file, first, length);
}

} // namespace

void serve_static(Worker& w, http::HttpSession& s) {
    const http::Request& req = s.request();
    if (req.method != http::Method::get && req.method != http::Method::head) {
        s.respond_error(405);
        return;
    }
    const config::LocationConf& loc = s.location();
    const std::string& root = s.routes()->real_root(loc);
    if (root.empty()) {
        s.respond_error(404);
        return;
    }
    std::shared_ptr<const http::FileInfo> info;
    std::string_view path = s.path();
    auto r = w.files().open(root, path, w.loop().now(), info);
    if (r == http::FileCache::Result::directory) {
        if (path.empty() || path.back() != '/') {
            ResponseHead head(301);
            std::string to(path);
            to += '/';
            if (!req.query.empty()) to.append("?").append(req.query);
            head.header("Location", to).header("Content-Type", "text/html");
            s.respond(std::move(head), http::error_page(301));
            return;
        }
        r = http::FileCache::Result::forbidden;  // no listing without an index
        for (const std::string& index : loc.index) {
            std::string p(path);
            p += index;
            auto ri = w.files().open(root, p, w.loop().now(), info);
            if (ri == http::FileCache::Result::ok || ri == http::FileCache::Result::unavailable) {
                r = ri;
                break;
            }
        }
    }
    switch (r) {
    case http::FileCache::Result::ok: send_file(s, *info, info); return;
    case http::FileCache::Result::not_found: s.respond_error(404); return;
    case http::FileCache::Result::error: s.respond_error(500); return;
    case http::FileCache::Result::unavailable: s.respond_error(503); return;
    default: s.respond_error(403); return;
    }
}

} // namespace herald::app
