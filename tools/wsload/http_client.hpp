// wsload: the client side of HTTP/1.1 that the load generator needs: a response-head parser
// (RFC 9112 §4-§6), a chunked body decoder (§7.1) and a text/event-stream parser (HTML Living
// Standard, "Server-sent events", §9.2.6 interpretation). Lenient where a server may vary, because
// its job is measuring servers, not judging them. Part of the single-TU wsload build.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace wsload {

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
        if (x != y) return false;
    }
    return true;
}

inline bool icontains(std::string_view hay, std::string_view needle) noexcept {
    for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i)
        if (iequals(hay.substr(i, needle.size()), needle)) return true;
    return false;
}

inline std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

struct ResponseHead {
    int status = 0;
    std::int64_t content_length = -1;    // -1: absent
    bool chunked = false;
    bool close = false;                  // Connection: close (or HTTP/1.0 without keep-alive)
    bool missed = false;                 // X-Herald-Missed: 1 (herald's "messages were missed")
    std::string etag;
    std::string last_modified;
};

// Parses a response head at the start of `data`. Returns the head's length including the blank
// line, 0 when the head is not complete yet, -1 when it is malformed.
inline long parse_response_head(std::string_view data, ResponseHead& h) {
    const auto end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) return data.size() > 65536 ? -1 : 0;
    std::string_view head = data.substr(0, end + 2);
    auto eol = head.find("\r\n");
    std::string_view status_line = head.substr(0, eol);
    if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") return -1;
    h = ResponseHead{};
    h.status = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
    h.close = status_line.substr(0, 8) == "HTTP/1.0";
    head.remove_prefix(eol + 2);
    while (!head.empty()) {
        eol = head.find("\r\n");
        std::string_view line = head.substr(0, eol);
        head.remove_prefix(eol + 2);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) return -1;
        const std::string_view name = line.substr(0, colon);
        const std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "content-length")) {
            h.content_length = 0;
            for (char c : value) h.content_length = h.content_length * 10 + (c - '0');
        } else if (iequals(name, "transfer-encoding")) {
            h.chunked = icontains(value, "chunked");
        } else if (iequals(name, "connection")) {
            if (icontains(value, "close")) h.close = true;
            if (icontains(value, "keep-alive")) h.close = false;
        } else if (iequals(name, "etag")) {
            h.etag = value;
        } else if (iequals(name, "last-modified")) {
            h.last_modified = value;
        } else if (iequals(name, "x-herald-missed")) {
            h.missed = value == "1";
        }
    }
    return static_cast<long>(end + 4);
}

// Incremental decoder of a chunked body. Holds no payload bytes: each piece is handed to the
// caller as a view into the input of that feed() call.
class ChunkedDecoder {
public:
    enum class Status { more, done, error };

    // Consumes bytes of `in` (sets `consumed`), calling on_data(std::string_view) for each data
    // piece. Stops right after the body's final CRLF (done) or at the end of the input (more).
    template <class OnData>
    Status feed(std::string_view in, std::size_t& consumed, OnData&& on_data) {
        std::size_t i = 0;
        while (i < in.size()) {
            const char c = in[i];
            switch (state_) {
            case State::size:
                if (int d = hex(c); d >= 0) {
                    left_ = left_ * 16 + static_cast<std::uint64_t>(d);
                } else if (c == ';' || c == ' ' || c == '\t') {
                    state_ = State::size_ext;
                } else if (c == '\r') {
                    state_ = State::size_lf;
                } else {
                    return fail(consumed, i);
                }
                ++i;
                break;
            case State::size_ext:
                if (c == '\r') state_ = State::size_lf;
                ++i;
                break;
            case State::size_lf:
                if (c != '\n') return fail(consumed, i);
                state_ = left_ == 0 ? State::trailer_start : State::data;
                ++i;
                break;
            case State::data: {
                const std::size_t take =
                    static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size() - i));
                on_data(in.substr(i, take));
                i += take;
                left_ -= take;
                if (left_ == 0) state_ = State::data_cr;
                break;
            }
            case State::data_cr:
                if (c != '\r') return fail(consumed, i);
                state_ = State::data_lf;
                ++i;
                break;
            case State::data_lf:
                if (c != '\n') return fail(consumed, i);
                state_ = State::size;
                ++i;
                break;
            case State::trailer_start:
                state_ = c == '\r' ? State::final_lf : State::trailer_line;
                ++i;
                break;
            case State::trailer_line:
                if (c == '\n') state_ = State::trailer_start;
                ++i;
                break;
            case State::final_lf:
                if (c != '\n') return fail(consumed, i);
                reset();
                consumed = i + 1;
                return Status::done;
            }
        }
        consumed = i;
        return Status::more;
    }

    void reset() noexcept {
        state_ = State::size;
        left_ = 0;
    }

private:
    enum class State : std::uint8_t {
        size, size_ext, size_lf, data, data_cr, data_lf, trailer_start, trailer_line, final_lf
    };

    static int hex(char c) noexcept {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    Status fail(std::size_t& consumed, std::size_t at) noexcept {
        consumed = at;
        return Status::error;
    }

    State state_ = State::size;
    std::uint64_t left_ = 0;
};

// Incremental text/event-stream parser. Owns the partial line and the data of the event being
// assembled; the views passed to on_event are valid only during that call.
class SseParser {
public:
    // Calls on_event(std::string_view type, std::string_view data) per dispatched event (type is
    // "message" unless the event set one). Comments and retry/id fields are skipped.
    template <class OnEvent>
    void feed(std::string_view in, OnEvent&& on_event) {
        while (!in.empty()) {
            const auto nl = in.find('\n');
            if (nl == std::string_view::npos) {
                line_.append(in);
                return;
            }
            if (line_.empty()) {
                line(in.substr(0, nl), on_event);
            } else {
                line_.append(in.substr(0, nl));
                line(line_, on_event);
                line_.clear();
            }
            in.remove_prefix(nl + 1);
        }
    }

private:
    template <class OnEvent>
    void line(std::string_view l, OnEvent& on_event) {
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        if (l.empty()) {
            if (has_data_) on_event(std::string_view(event_.empty() ? "message" : event_), std::string_view(data_));
            data_.clear();
            event_.clear();
            has_data_ = false;
            return;
        }
        if (l.front() == ':') return;
        const auto colon = l.find(':');
        const std::string_view field = l.substr(0, colon);
        std::string_view value = colon == std::string_view::npos ? std::string_view{} : l.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (field == "data") {
            if (has_data_) data_.push_back('\n');
            data_.append(value);
            has_data_ = true;
        } else if (field == "event") {
            event_.assign(value);
        }
    }

    std::string line_;
    std::string data_;
    std::string event_;
    bool has_data_ = false;
};

} // namespace wsload
