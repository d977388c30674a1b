// std::thread, std::mutex, std::condition_variable, std::atomic, thread_local, futures.
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

static thread_local int tl = 1;

int main() {
    std::atomic<int> hits{0};
    std::mutex m;
    long total = 0;
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; i++)
        ts.emplace_back([&, i] {
            tl = i + 10;
            for (int k = 0; k < 100; k++) {
                hits.fetch_add(1);
                std::lock_guard<std::mutex> g(m);
                total += tl;
            }
        });
    for (auto &t : ts)
        t.join();
    std::printf("hits=%d total=%ld tl=%d\n", hits.load(), total, tl);

    std::condition_variable cv;
    bool ready = false;
    int value = 0;
    std::thread producer([&] {
        std::lock_guard<std::mutex> g(m);
        value = 99;
        ready = true;
        cv.notify_one();
    });
    {
        std::unique_lock<std::mutex> lk(m);
        cv.wait(lk, [&] { return ready; });
    }
    producer.join();
    std::printf("value=%d\n", value);
    auto f = std::async(std::launch::async, [] { return 6 * 7; });
    std::printf("async=%d\n", f.get());
    return 4;
}
