// Typed config: load_config() (parse + directive table, see loader.cpp and directives.cpp)
// and the small queries the other modules make on the snapshot.
#include "config/config.hpp"

#include <algorithm>

#include "config/loader.hpp"
#include "config/parser.hpp"
#include "core/ascii.hpp"

namespace herald::config {

std::shared_ptr<const Config> load_config(const std::string& path) {
    config::ConfigTree tree = config::parse_config_file(path);
    auto cfg = std::make_shared<Config>();
    config::detail::build_config(tree, *cfg);
    return cfg;
}

std::shared_ptr<const Config> load_config_string(std::string_view text, const std::string& path) {
    config::ConfigTree tree = config::parse_config_text(text, path);
    auto cfg = std::make_shared<Config>();
    config::detail::build_config(tree, *cfg);
    return cfg;
}

std::string_view mime_type_for(const Config& cfg, const Limits& limits, std::string_view filename) {
    std::size_t slash = filename.rfind('/');
    if (slash != std::string_view::npos) filename.remove_prefix(slash + 1);
    std::size_t dot = filename.rfind('.');
    // Extensions longer than the small-string buffer are never in mime.types: skip them, and
    // the lookup key below never allocates.
    constexpr std::size_t max_ext = 15;
    if (dot == std::string_view::npos || filename.size() - dot - 1 > max_ext ||
        dot + 1 == filename.size())
        return limits.default_type;
    char ext[max_ext];
    std::size_t n = 0;
    for (char c : filename.substr(dot + 1))
        ext[n++] = ascii::lower(c);
    auto it = cfg.mime_types.find(std::string(ext, n));
    return it == cfg.mime_types.end() ? std::string_view(limits.default_type)
                                      : std::string_view(it->second);
}

const char* to_string(PushStrategy s) noexcept {
    switch (s) {
    case PushStrategy::none: return "none";
    case PushStrategy::polling: return "polling";
    case PushStrategy::long_polling: return "long-polling";
    case PushStrategy::iframe: return "iframe";
    case PushStrategy::sse: return "sse";
    case PushStrategy::websocket: return "websocket";
    }
    return "none";
}

namespace {

bool rule_matches(const AccessRule& r, std::span<const std::uint8_t, 16> addr) noexcept {
    static constexpr std::uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (r.all) return true;
    // IPv4 clients meet only IPv4 rules (nginx)
    if (r.v6 && std::equal(v4_mapped, v4_mapped + 12, addr.begin())) return false;
    unsigned full = r.prefix_len / 8, rest = r.prefix_len % 8;
    bool match = std::equal(r.net, r.net + full, addr.begin());
    if (match && rest != 0) {
        auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
        match = (addr[full] & mask) == r.net[full];
    }
    return match;
}

} // namespace

bool access_allowed(const std::vector<AccessRule>& rules,
                    std::span<const std::uint8_t, 16> addr) noexcept {
    for (const AccessRule& r : rules)
        if (rule_matches(r, addr)) return r.allow;
    return true;
}

bool address_in(const std::vector<AccessRule>& ranges,
                std::span<const std::uint8_t, 16> addr) noexcept {
    return std::any_of(ranges.begin(), ranges.end(),
                       [addr](const AccessRule& r) { return rule_matches(r, addr); });
}

} // namespace herald::config
