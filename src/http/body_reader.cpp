// BodyReader: Content-Length and chunked request bodies, with the client_max_body_size limit.
#include "http/body_reader.hpp"

#include <algorithm>

namespace herald::http {

HttpError BodyReader::start(const Request& req, std::uint64_t max_size) {
    body_.clear();
    is_chunked_ = req.chunked;
    left_ = req.chunked ? 0 : req.content_length;
    chunked_ = ChunkedDecoder(max_size);
    if (!req.chunked && req.has_content_length && req.content_length > max_size)
        return HttpError::body_too_large;
    return HttpError::none;
}

ParseResult BodyReader::feed(std::string_view in) {
    if (!is_chunked_) {
        auto used = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
        body_.append(in.substr(0, used));
        left_ -= used;
        return {left_ == 0 ? ParseStatus::done : ParseStatus::need_more, used, HttpError::none};
    }
    // The decoder stops after each piece of data: call it again while it makes progress.
    std::size_t used = 0;
    for (;;) {
        std::string_view piece;
        ParseResult r = chunked_.feed(in.substr(used), piece);
        used += r.consumed;
        body_.append(piece);
        if (r.status != ParseStatus::need_more || used >= in.size() || r.consumed == 0)
            return {r.status, used, r.error};
    }
}

} // namespace herald::http
