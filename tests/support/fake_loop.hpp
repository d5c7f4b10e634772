// Test support: a stand-in for a worker loop given to Broker::attach_worker(). Posted tasks
// wait in a vector until the test runs them, so every interleaving is explicit.
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "push/broker.hpp"

namespace herald::test {

struct FakeLoop {
    std::vector<std::function<void()>> queue;
    push::PostFn poster() {
        return [this](std::function<void()> fn) { queue.push_back(std::move(fn)); };
    }
    void run() {
        while (!queue.empty()) {
            std::vector<std::function<void()>> batch;
            batch.swap(queue);
            for (auto& fn : batch) fn();
        }
    }
};

} // namespace herald::test
