// Config loader internals: the directive table and the Loader that applies it to a parsed
// tree, filling the typed Config. Arity, context, block-ness, on|off flags and duplicates are
// checked once, in Loader::dispatch(), from the table (as nginx's ngx_conf_handler does);
// handlers only convert values. Used by load_config(); not for other modules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/parser.hpp"

namespace herald::config::detail {

// Where a directive may appear (a bit set in Spec::contexts).
enum Context : std::uint16_t {
    ctx_main = 1,
    ctx_events = 2,
    ctx_http = 4,
    ctx_server = 8,
    ctx_location = 16,
    ctx_channel = 32,
    ctx_types = 64,
};

class Loader;
using Handler = void (*)(Loader&, const Directive&);

inline constexpr std::uint8_t any_args = 255;

struct Spec {
    std::string_view name;
    std::uint16_t contexts; // Context bits
    std::uint8_t min_args;
    std::uint8_t max_args; // any_args = no upper bound
    bool block;            // `name ... { }` rather than `name ...;`
    bool flag;             // every argument must be on|off
    bool multi;            // may repeat within one block
    Handler handler;
};

// The table, defined in directives.cpp. A name may have one entry per context set
// (`channel` is a block in http and a plain directive in location).
std::span<const Spec> directive_table() noexcept;

// Fills one Config from one tree. Holds references to both; lives for one build_config() call.
// Handlers read and write the public members; `limits` points at the Limits of the innermost
// http/server/location being filled.
class Loader {
public:
    Loader(const ConfigTree& tree, Config& config) : cfg(config), tree_(tree) {}

    void run();
    // Handles the directives of one block: plain directives first, then blocks, so a block
    // inherits its parent's settings wherever they are written in the parent.
    void process(const std::vector<Directive>& list, Context ctx);

    // Argument converters; each throws `invalid value "ARG" in "NAME" directive...` at the arg.
    std::uint64_t number(const Directive& d, std::size_t i, std::uint64_t min,
                         std::uint64_t max) const;
    std::uint64_t size(const Directive& d, std::size_t i, std::uint64_t min,
                       std::uint64_t max) const;
    Duration time(const Directive& d, std::size_t i, Duration min, Duration max) const;
    bool flag(const Directive& d) const; // no argument = on
    // Absolute, normalised path; a relative one is based on the folder of d's file.
    std::string path(const Directive& d, std::size_t i) const;

    [[noreturn]] void fail(const Directive& d, const std::string& msg) const;
    [[noreturn]] void fail(const Directive& d, std::size_t i, const std::string& msg) const;
    // `invalid value "ARG" in "NAME" directive` + why (", it must be ...") at argument i.
    [[noreturn]] void invalid(const Directive& d, std::size_t i, std::string_view why = {}) const;
    std::string where(const Directive& d) const;
    const std::string& file(const Directive& d) const; // the file that holds d

    Config& cfg;
    ServerConf* server = nullptr;
    LocationConf* location = nullptr;
    ChannelConf* channel = nullptr;
    Limits* limits = nullptr;

    // Literal channel names used by locations, checked against the declared ones at the end.
    struct ChannelUse {
        std::string name;
        std::string where;
    };
    std::vector<ChannelUse> channel_uses;

private:
    void dispatch(const Directive& d, Context ctx, std::vector<std::string_view>& seen);
    void type_mapping(const Directive& d);
    void check_channel_uses() const;

    const ConfigTree& tree_;
};

// True if s may be sent as (part of) an HTTP field value: no control characters (RFC 9110
// §5.5: CR, LF, NUL and the other CTLs except HTAB), so no config value can end a header line.
bool is_header_safe(std::string_view s) noexcept;

// Applies the table to tree and fills cfg (path, prefix and defaults included).
// Throws ConfigError("FILE:LINE:COL: message").
void build_config(const ConfigTree& tree, Config& cfg);

} // namespace herald::config::detail
