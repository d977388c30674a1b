// C++ exceptions through several frames, RAII unwinding, standard containers.
#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct Tracker {
    std::string name;
    explicit Tracker(std::string n) : name(std::move(n)) { std::printf("ctor %s\n", name.c_str()); }
    ~Tracker() { std::printf("dtor %s\n", name.c_str()); }
};

static int depth_throw(int n) {
    Tracker t("level" + std::to_string(n));
    if (n == 0)
        throw std::runtime_error("bottom reached");
    return depth_throw(n - 1) + 1;
}

struct Custom {
    int code;
};

int main() {
    try {
        depth_throw(3);
    } catch (const std::exception &e) {
        std::printf("caught: %s\n", e.what());
    }
    try {
        throw Custom{77};
    } catch (Custom &c) {
        std::printf("custom code %d\n", c.code);
    }
    try {
        std::vector<int> v(3);
        v.at(10) = 1;
    } catch (const std::out_of_range &) {
        std::printf("out_of_range caught\n");
    }
    std::map<std::string, int> counts;
    const char *words[] = {"pear", "apple", "pear", "fig", "apple", "pear"};
    for (const char *w : words)
        counts[w]++;
    for (const auto &kv : counts)
        std::printf("%s=%d\n", kv.first.c_str(), kv.second);
    auto p = std::make_unique<Tracker>("heap");
    std::shared_ptr<Tracker> s = std::make_shared<Tracker>("shared");
    auto s2 = s;
    std::printf("use_count=%ld\n", s.use_count());
    return 6;
}
