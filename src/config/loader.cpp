// Config loader: dispatches each directive through the table (context, block-ness, arity,
// on|off, duplicates) and converts argument values, with nginx-worded errors.
#include "config/loader.hpp"

#include <algorithm>
#include <filesystem>

#include "config/values.hpp"
#include "core/ascii.hpp"

namespace herald::config::detail {
namespace {

std::string dquote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// "250ms", "30s", "5m", "2h", "1d": the largest unit that divides d exactly.
std::string format_duration(Duration d) {
    struct Unit {
        const char* name;
        Duration::rep ms;
    };
    static constexpr Unit units[] = {
        {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}};
    for (const Unit& u : units)
        if (d.count() != 0 && d.count() % u.ms == 0)
            return std::to_string(d.count() / u.ms) + u.name;
    return std::to_string(d.count()) + "ms";
}

} // namespace

void Loader::run() {
    cfg.path = tree_.files[0].path;
    cfg.prefix = tree_.files[0].dir;
    cfg.pid_file = (cfg.prefix == "/" ? "" : cfg.prefix) + "/herald.pid";
    process(tree_.directives, ctx_main);
    check_channel_uses();
}

void Loader::process(const std::vector<Directive>& list, Context ctx) {
    std::vector<std::string_view> seen;
    for (const Directive& d : list)
        if (!d.block) dispatch(d, ctx, seen);
    for (const Directive& d : list)
        if (d.block) dispatch(d, ctx, seen);
}

void Loader::dispatch(const Directive& d, Context ctx, std::vector<std::string_view>& seen) {
    if (ctx == ctx_types) return type_mapping(d);
    const Spec* named = nullptr;
    const Spec* spec = nullptr;
    for (const Spec& s : directive_table()) {
        if (s.name != d.name) continue;
        named = &s;
        if (s.contexts & ctx) {
            spec = &s;
            break;
        }
    }
    if (!named) fail(d, "unknown directive " + dquote(d.name));
    if (!spec) fail(d, dquote(d.name) + " directive is not allowed here");
    if (spec->block && !d.block) fail(d, "directive " + dquote(d.name) + " has no opening \"{\"");
    if (!spec->block && d.block)
        fail(d, "directive " + dquote(d.name) + " is not terminated by \";\"");
    if (d.args.size() < spec->min_args ||
        (spec->max_args != any_args && d.args.size() > spec->max_args))
        fail(d, "invalid number of arguments in " + dquote(d.name) + " directive");
    if (spec->flag)
        for (std::size_t i = 0; i < d.args.size(); ++i)
            if (d.args[i].value != "on" && d.args[i].value != "off")
                invalid(d, i, ", it must be \"on\" or \"off\"");
    if (!spec->multi) {
        if (std::find(seen.begin(), seen.end(), d.name) != seen.end())
            fail(d, dquote(d.name) + " directive is duplicate");
        seen.push_back(d.name);
    }
    spec->handler(*this, d);
}

// A line of `types { TYPE EXT...; }`: maps each lower-cased EXT to TYPE; later lines win.
void Loader::type_mapping(const Directive& d) {
    if (d.block) fail(d, "directive " + dquote(d.name) + " is not terminated by \";\"");
    if (d.args.empty()) fail(d, "invalid number of arguments in " + dquote(d.name) + " directive");
    if (!is_header_safe(d.name)) fail(d, "control character in a MIME type");
    if (d.name.find('/') == std::string::npos) fail(d, "invalid MIME type " + dquote(d.name));
    for (std::size_t i = 0; i < d.args.size(); ++i) {
        std::string ext = d.args[i].value;
        if (ext.empty() || ext.find_first_of("./") != std::string::npos) invalid(d, i);
        std::transform(ext.begin(), ext.end(), ext.begin(), ascii::lower);
        cfg.mime_types[std::move(ext)] = d.name;
    }
}

void Loader::check_channel_uses() const {
    if (cfg.channel_autocreate) return;
    for (const ChannelUse& use : channel_uses) {
        bool declared = std::any_of(cfg.channels.begin(), cfg.channels.end(),
                                    [&](const ChannelConf& c) { return c.name == use.name; });
        if (!declared)
            throw ConfigError(use.where + ": channel " + dquote(use.name) +
                              " is not declared (add \"channel " + use.name +
                              " { }\" to http or set \"channel_autocreate on\")");
    }
}

std::uint64_t Loader::number(const Directive& d, std::size_t i, std::uint64_t min,
                             std::uint64_t max) const {
    auto v = parse_number(d.args[i].value);
    if (!v) invalid(d, i);
    if (*v < min || *v > max)
        invalid(d, i,
                ", it must be between " + std::to_string(min) + " and " + std::to_string(max));
    return *v;
}

std::uint64_t Loader::size(const Directive& d, std::size_t i, std::uint64_t min,
                           std::uint64_t max) const {
    auto v = parse_size(d.args[i].value);
    if (!v) invalid(d, i);
    if (*v < min || *v > max)
        invalid(d, i,
                ", it must be between " + std::to_string(min) + " and " + std::to_string(max) +
                    " bytes");
    return *v;
}

Duration Loader::time(const Directive& d, std::size_t i, Duration min, Duration max) const {
    auto v = parse_duration(d.args[i].value);
    if (!v) invalid(d, i);
    if (*v < min || *v > max)
        invalid(d, i,
                ", it must be between " + format_duration(min) + " and " + format_duration(max));
    return *v;
}

bool Loader::flag(const Directive& d) const { return d.args.empty() || d.args[0].value == "on"; }

std::string Loader::path(const Directive& d, std::size_t i) const {
    namespace fs = std::filesystem;
    const std::string& value = d.args[i].value;
    if (value.empty()) invalid(d, i);
    fs::path p(value);
    if (p.is_relative()) p = fs::path(tree_.files[d.file].dir) / p;
    std::string s = p.lexically_normal().string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
}

std::string Loader::where(const Directive& d) const { return tree_.where(d.file, d.pos); }

const std::string& Loader::file(const Directive& d) const { return tree_.files[d.file].path; }

void Loader::fail(const Directive& d, const std::string& msg) const {
    throw ConfigError(where(d) + ": " + msg);
}

void Loader::fail(const Directive& d, std::size_t i, const std::string& msg) const {
    throw ConfigError(tree_.where(d.file, d.args[i].pos) + ": " + msg);
}

void Loader::invalid(const Directive& d, std::size_t i, std::string_view why) const {
    fail(d, i,
         "invalid value " + dquote(d.args[i].value) + " in " + dquote(d.name) + " directive" +
             std::string(why));
}

void build_config(const ConfigTree& tree, Config& cfg) {
    Loader loader(tree, cfg);
    loader.run();
}

bool is_header_safe(std::string_view s) noexcept {
    for (unsigned char c : s)
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    return true;
}

} // namespace herald::config::detail
