// Config parser: recursive descent over the token list of each file; `include` is expanded
// while parsing, so the tree the loader sees has no includes left.
#include "config/parser.hpp"

#include <cerrno>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.hpp"
#include "core/unique_fd.hpp"

namespace herald::config {
namespace {

namespace fs = std::filesystem;

std::string dquote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string errno_text(int err) { return std::system_category().message(err); }

bool has_glob_chars(std::string_view s) noexcept {
    return s.find_first_of("*?[") != std::string_view::npos;
}

// Backslash-escapes glob metacharacters so a folder name is matched literally.
std::string glob_escape(std::string_view s) {
    std::string r;
    for (char c : s) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') r.push_back('\\');
        r.push_back(c);
    }
    return r;
}

// Owns a glob_t filled by glob(3).
struct GlobResult {
    glob_t g{};
    GlobResult() = default;
    GlobResult(const GlobResult&) = delete;
    GlobResult& operator=(const GlobResult&) = delete;
    ~GlobResult() { ::globfree(&g); }
};

// Builds one ConfigTree. Holds a reference to the tree; lives for one parse call.
class Parser {
public:
    explicit Parser(ConfigTree& tree) : tree_(tree) {}

    std::uint32_t add_file(const std::string& path) {
        std::error_code ec;
        fs::path abs = fs::absolute(fs::path(path), ec).lexically_normal();
        std::string dir = abs.parent_path().string();
        tree_.files.push_back(SourceFile{path, dir.empty() ? "/" : dir});
        return static_cast<std::uint32_t>(tree_.files.size() - 1);
    }

    void parse_text(std::string_view text, std::uint32_t file, int include_depth,
                    std::vector<Directive>& out) {
        std::vector<Token> tokens;
        LexError err;
        if (lex_all(text, tokens, err) == LexStatus::error) fail(file, err.pos, err.message);
        parse_block(tokens, 0, file, include_depth, 0, out);
    }

private:
    std::size_t parse_block(const std::vector<Token>& toks, std::size_t i, std::uint32_t file,
                            int include_depth, int block_depth, std::vector<Directive>& out);
    std::size_t parse_directive(const std::vector<Token>& toks, std::size_t i, std::uint32_t file,
                                int include_depth, int block_depth, Directive& d);
    void include(const Directive& d, int include_depth, std::vector<Directive>& out);
    void include_file(const Directive& d, const std::string& path, int include_depth,
                      std::vector<Directive>& out);

    [[noreturn]] void fail(std::uint32_t file, Position pos, const std::string& msg) const {
        throw ConfigError(tree_.where(file, pos) + ": " + msg);
    }

    ConfigTree& tree_;
};

// Parses directives until the `}` closing this block (block_depth > 0) or the end of the
// file (block_depth == 0). Returns the index just past the `}` or at the eof token.
std::size_t Parser::parse_block(const std::vector<Token>& toks, std::size_t i, std::uint32_t file,
                                int include_depth, int block_depth, std::vector<Directive>& out) {
    for (;;) {
        const Token& t = toks[i];
        switch (t.kind) {
        case Token::Kind::eof:
            if (block_depth > 0) fail(file, t.pos, "unexpected end of file, expecting \"}\"");
            return i;
        case Token::Kind::block_end:
            if (block_depth == 0) fail(file, t.pos, "unexpected \"}\"");
            return i + 1;
        case Token::Kind::semicolon: fail(file, t.pos, "unexpected \";\"");
        case Token::Kind::block_start: fail(file, t.pos, "unexpected \"{\"");
        case Token::Kind::word:
        case Token::Kind::quoted: break;
        }
        Directive d;
        i = parse_directive(toks, i, file, include_depth, block_depth, d);
        if (d.name == "include")
            include(d, include_depth, out);
        else
            out.push_back(std::move(d));
    }
}

// Parses one directive starting at its name token; returns the index after its `;` or `}`.
std::size_t Parser::parse_directive(const std::vector<Token>& toks, std::size_t i,
                                    std::uint32_t file, int include_depth, int block_depth,
                                    Directive& d) {
    d.name = toks[i].text;
    d.pos = toks[i].pos;
    d.file = file;
    for (++i;; ++i) {
        const Token& t = toks[i];
        switch (t.kind) {
        case Token::Kind::word:
        case Token::Kind::quoted:
            d.args.push_back(Arg{t.text, t.kind == Token::Kind::quoted, t.pos});
            break;
        case Token::Kind::semicolon: return i + 1;
        case Token::Kind::block_start:
            if (block_depth + 1 > max_block_depth)
                fail(file, t.pos,
                     "blocks nested too deeply (over " + std::to_string(max_block_depth) +
                         " levels)");
            d.block = true;
            return parse_block(toks, i + 1, file, include_depth, block_depth + 1, d.children);
        case Token::Kind::block_end: fail(file, t.pos, "unexpected \"}\"");
        case Token::Kind::eof:
            fail(file, t.pos, "unexpected end of file, expecting \";\" or \"}\"");
        }
    }
}

void Parser::include(const Directive& d, int include_depth, std::vector<Directive>& out) {
    if (d.block) fail(d.file, d.pos, "directive \"include\" is not terminated by \";\"");
    if (d.args.size() != 1)
        fail(d.file, d.pos, "invalid number of arguments in \"include\" directive");
    if (include_depth + 1 > max_include_depth)
        fail(d.file, d.pos,
             "include nesting is too deep (over " + std::to_string(max_include_depth) + " levels)");
    const Arg& arg = d.args[0];
    fs::path base = fs::path(tree_.files[d.file].path).parent_path();
    if (!has_glob_chars(arg.value)) {
        include_file(d, (base / arg.value).string(), include_depth, out);
        return;
    }
    std::string pattern = fs::path(arg.value).is_absolute() || base.empty()
                              ? arg.value
                              : glob_escape(base.string()) + "/" + arg.value;
    GlobResult matches;
    // glob(3) is not thread-safe; configs are only ever loaded on the main thread.
    int rc = ::glob(pattern.c_str(), 0, nullptr, &matches.g); // NOLINT(concurrency-mt-unsafe)
    if (rc == GLOB_NOMATCH) return;
    if (rc != 0) fail(d.file, arg.pos, "glob() " + dquote(pattern) + " failed");
    for (std::size_t k = 0; k < matches.g.gl_pathc; ++k)
        include_file(d, matches.g.gl_pathv[k], include_depth, out);
}

void Parser::include_file(const Directive& d, const std::string& path, int include_depth,
                          std::vector<Directive>& out) {
    std::string text;
    std::string err = read_file(path, text);
    if (!err.empty()) fail(d.file, d.args[0].pos, err);
    parse_text(text, add_file(path), include_depth + 1, out);
}

} // namespace

std::string read_file(const std::string& path, std::string& out, std::size_t max) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return "open() " + dquote(path) + " failed (" + errno_text(errno) + ")";
    std::string too_large = // not const: returned by value, it can then be moved
        dquote(path) + " is too large (over " + std::to_string(max) + " bytes)";
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) &&
        static_cast<std::uint64_t>(st.st_size) > max)
        return too_large;
    out.clear();
    char buf[16 * 1024];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return "read() " + dquote(path) + " failed (" + errno_text(errno) + ")";
        if (n == 0) return {};
        if (out.size() + static_cast<std::size_t>(n) > max) return too_large;
        out.append(buf, static_cast<std::size_t>(n));
    }
}


std::string ConfigTree::where(std::uint32_t file, Position pos) const {
    return files[file].path + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col);
}

ConfigTree parse_config_file(const std::string& path) {
    std::string text;
    std::string err = read_file(path, text);
    if (!err.empty()) throw ConfigError(err);
    return parse_config_text(text, path);
}

ConfigTree parse_config_text(std::string_view text, const std::string& path) {
    ConfigTree tree;
    Parser parser(tree);
    std::uint32_t file = parser.add_file(path);
    parser.parse_text(text, file, 0, tree.directives);
    return tree;
}

} // namespace herald::config
