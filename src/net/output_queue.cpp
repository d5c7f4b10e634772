// OutputQueue: writev for memory chunks (up to 64 at once), sendfile for file ranges.
#include "net/output_queue.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <sys/uio.h>
#include <unistd.h>

#include "net/socket.hpp"

namespace herald::net {

OpenFile::~OpenFile() {
    if (fd >= 0) ::close(fd);
}

void OutputQueue::push(std::string bytes) {
    if (bytes.empty()) return;
    pending_ += bytes.size();
    add_total(bytes.size(), true);
    Chunk& c = chunks_.emplace_back();
    c.own = std::move(bytes);
}

void OutputQueue::push_static(std::string_view bytes) {
    if (bytes.empty()) return;
    pending_ += bytes.size();
    add_total(bytes.size(), true);
    chunks_.emplace_back().view = bytes;
}

void OutputQueue::push_shared(std::shared_ptr<const void> keep, std::string_view bytes) {
    if (bytes.empty()) return;
    pending_ += bytes.size();
    add_total(bytes.size(), true);
    Chunk& c = chunks_.emplace_back();
    c.keep = std::move(keep);
    c.view = bytes;
}

void OutputQueue::append(std::string_view a, std::string_view b, std::string_view c) {
    const std::size_t n = a.size() + b.size() + c.size();
    if (n == 0) return;
    char* at = append_space(n);
    if (!a.empty()) std::memcpy(at, a.data(), a.size());
    if (!b.empty()) std::memcpy(at + a.size(), b.data(), b.size());
    if (!c.empty()) std::memcpy(at + a.size() + b.size(), c.data(), c.size());
}

char* OutputQueue::append_space(std::size_t n) {
    pending_ += n;
    add_total(n, true);
    Chunk* t = head_ < chunks_.size() ? &chunks_.back() : nullptr;
    // Not behind a stamped chunk (its delivery would be recorded late) or a partly written one.
    if (t == nullptr || !t->block || t->view.data() != t->block.get() || t->latency != nullptr ||
        t->block_room < n) {
        // Room for a few more, twice the last block's while a run goes on (an echo of a 64 KiB
        // read leaves in three buffers, not fifteen); a block is never grown, so only the last
        // one has more room than the reply that did not fit.
        std::size_t room = 4 * n;
        if (t != nullptr && t->block) room = std::max(room, 2 * (t->view.size() + t->block_room));
        const std::size_t size = std::max(n, std::min(append_room, room));
        t = &chunks_.emplace_back();
        t->block = std::make_unique_for_overwrite<char[]>(size);
        t->view = {t->block.get(), 0};
        t->block_room = size;
    }
    char* at = t->block.get() + t->view.size();  // view starts at the block: not partly written
    t->view = {t->block.get(), t->view.size() + n};
    t->block_room -= n;
    return at;
}

void OutputQueue::unappend(std::size_t n) noexcept {
    Chunk& t = chunks_.back();
    t.view.remove_suffix(n);
    t.block_room += n;
    sub_pending(n);
    if (t.view.empty()) {  // the block held only these bytes
        chunks_.pop_back();
        if (head_ == chunks_.size()) {
            chunks_.clear();
            head_ = 0;
        }
    }
}

std::size_t OutputQueue::reserved_bytes() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = head_; i < chunks_.size(); ++i) {
        const Chunk& c = chunks_[i];
        if (!c.own.empty()) n += c.own.capacity();
        if (c.block) n += static_cast<std::size_t>(c.view.data() - c.block.get()) + c.view.size() +
                          c.block_room;
    }
    return n;
}

void OutputQueue::push_file(std::shared_ptr<const OpenFile> file, std::uint64_t offset,
                            std::uint64_t length) {
    if (length == 0) return;
    Chunk& c = chunks_.emplace_back();
    c.file = std::move(file);
    c.file_offset = offset;
    c.file_left = length;
}

void OutputQueue::stamp_delivery(Clock::time_point published, Histogram& latency) noexcept {
    if (empty()) return;
    chunks_.back().latency = &latency;
    chunks_.back().published = published;
}

void OutputQueue::add_total(std::size_t n, bool up) noexcept {
    if (total_ == nullptr) return;
    const std::uint64_t t = total_->load(std::memory_order_relaxed);
    total_->store(up ? t + n : t - n, std::memory_order_relaxed);
}

void OutputQueue::sub_pending(std::size_t n) noexcept {
    n = std::min(pending_, n);
    pending_ -= n;
    add_total(n, false);
}

void OutputQueue::pop_front(Clock::time_point& now) noexcept {
    Chunk& c = chunks_[head_];
    if (c.latency) {
        if (now == Clock::time_point{}) now = Clock::system().now();
        c.latency->record(now - c.published);
        c.latency = nullptr;
    }
    c.own = std::string();
    c.block.reset();
    c.keep.reset();
    c.file.reset();
    ++head_;
    if (head_ == chunks_.size()) {
        chunks_.clear();
        head_ = 0;
        if (chunks_.capacity() > 32) chunks_.shrink_to_fit();
    }
}

void OutputQueue::clear() noexcept {
    chunks_.clear();
    chunks_.shrink_to_fit();
    head_ = 0;
    sub_pending(pending_);
}

IoStatus OutputQueue::flush_file(int fd, Chunk& c, std::error_code& ec, Clock::time_point& now) {
    while (c.file_left > 0) {
        off_t off = static_cast<off_t>(c.file_offset);
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(c.file_left, 1 << 20));
        ssize_t n = send_file(fd, c.file->fd, &off, want);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::would_block;
            if (errno == EINTR) continue;
            ec = {errno, std::generic_category()};
            return IoStatus::error;
        }
        if (n == 0) {  // file shrank under us: cannot complete the promised length
            ec = std::make_error_code(std::errc::io_error);
            return IoStatus::error;
        }
        c.file_offset += static_cast<std::uint64_t>(n);
        c.file_left -= static_cast<std::uint64_t>(n);
        written_ += static_cast<std::uint64_t>(n);
    }
    pop_front(now);
    return IoStatus::done;
}

IoStatus OutputQueue::flush(int fd, std::error_code& ec, Clock::time_point now) {
    constexpr int max_iov = 64;
    iovec iov[max_iov];
    while (!empty()) {
        if (chunks_[head_].file) {
            IoStatus st = flush_file(fd, chunks_[head_], ec, now);
            if (st != IoStatus::done) return st;
            continue;
        }
        int n = 0;
        std::size_t total = 0;
        std::size_t i = head_;
        for (; i < chunks_.size() && n < max_iov && !chunks_[i].file; ++i, ++n) {
            std::string_view b = chunks_[i].bytes();
            iov[n].iov_base = const_cast<char*>(b.data());
            iov[n].iov_len = b.size();
            total += b.size();
        }
        bool more = i < chunks_.size() && chunks_[i].file;
        ssize_t w = write_vec(fd, iov, n, more);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::would_block;
            if (errno == EINTR) continue;
            ec = {errno, std::generic_category()};
            return IoStatus::error;
        }
        std::size_t left = static_cast<std::size_t>(w);
        written_ += left;
        sub_pending(left);
        while (left > 0) {
            Chunk& c = chunks_[head_];
            std::size_t len = c.bytes().size();
            if (left >= len) {
                left -= len;
                pop_front(now);
            } else {
                c.advance(left);
                left = 0;
            }
        }
        if (static_cast<std::size_t>(w) < total) return IoStatus::would_block;
    }
    return IoStatus::done;
}

} // namespace herald::net
