// Per-thread permessage-deflate counters and their sum (see deflate_stats.hpp).
#include "ws/deflate_stats.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

namespace herald::ws {

namespace {

// One writer (its thread), any number of readers: relaxed loads and stores, no read-modify-write.
struct Slot {
    std::atomic<std::uint64_t> v[6] = {};
    void add(int i, std::uint64_t n) noexcept {
        v[i].store(v[i].load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void add_to(DeflateTotals& t) const noexcept {
        t.sent_messages += v[0].load(std::memory_order_relaxed);
        t.sent_plain += v[1].load(std::memory_order_relaxed);
        t.sent_compressed += v[2].load(std::memory_order_relaxed);
        t.received_messages += v[3].load(std::memory_order_relaxed);
        t.received_compressed += v[4].load(std::memory_order_relaxed);
        t.received_plain += v[5].load(std::memory_order_relaxed);
    }
};

struct Registry {
    std::mutex mutex;
    std::vector<const Slot*> live;  // guarded by mutex
    DeflateTotals retired;          // guarded by mutex: threads that exited
};

// Constructed by a thread's first count, before that thread's slot, so destroyed after every
// slot: worker threads are joined before static teardown, and the main thread's thread_local
// objects are destroyed before its statics.
Registry& registry() {
    static Registry r;
    return r;
}

// Registers on a thread's first count; folds its figures into `retired` when the thread exits.
struct ThreadSlot {
    Slot slot;
    ThreadSlot() {
        Registry& r = registry();
        std::lock_guard<std::mutex> lock(r.mutex);
        r.live.push_back(&slot);
    }
    ~ThreadSlot() {
        Registry& r = registry();
        std::lock_guard<std::mutex> lock(r.mutex);
        slot.add_to(r.retired);
        r.live.erase(std::find(r.live.begin(), r.live.end(), &slot));
    }
};

Slot& mine() {
    thread_local ThreadSlot t;
    return t.slot;
}

} // namespace

void count_sent_deflated(std::size_t plain, std::size_t compressed) noexcept {
    Slot& s = mine();
    s.add(0, 1);
    s.add(1, plain);
    s.add(2, compressed);
}

void count_received_deflated(std::size_t compressed, std::size_t plain) noexcept {
    Slot& s = mine();
    s.add(3, 1);
    s.add(4, compressed);
    s.add(5, plain);
}

DeflateTotals deflate_totals() {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    DeflateTotals t = r.retired;
    for (const Slot* s : r.live) s->add_to(t);
    return t;
}

} // namespace herald::ws
