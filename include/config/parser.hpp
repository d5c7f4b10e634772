// Config parser: turns lexer tokens into a directive tree (`name args...;` and
// `name args... { children }`), reading files and expanding `include` in place.
// Knows no directive but `include`; meanings, contexts and arity are checked by config.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/lexer.hpp"

namespace herald::config {

struct Arg {
    std::string value;   // unescaped
    bool quoted = false; // written as "..." or '...'
    Position pos;
};

struct Directive {
    std::string name;
    std::vector<Arg> args;
    bool block = false;              // ended by `{ ... }` rather than `;`
    std::vector<Directive> children; // block contents, includes already expanded
    std::uint32_t file = 0;          // index into ConfigTree::files
    Position pos;                    // of the name
};

struct SourceFile {
    std::string path; // as shown in messages: the main file as given, includes joined to
                      // the including file's folder ("conf/mime.types")
    std::string dir;  // absolute, normalised folder of the file: base for relative paths
};

// A parsed config: owns every directive and the list of files they came from.
struct ConfigTree {
    std::vector<SourceFile> files;     // files[0] is the main file
    std::vector<Directive> directives; // main context

    // "FILE:LINE:COL" of a position in one of the files.
    std::string where(std::uint32_t file, Position pos) const;
};

// Limits that keep a hostile or broken config from exhausting the loader.
inline constexpr std::size_t max_config_file_size = 1024 * 1024; // per file
inline constexpr int max_include_depth = 16;                     // nested include levels
inline constexpr int max_block_depth = 32;                       // nested `{` per file

// Reads a whole file of at most max bytes into out (config files, key files). Returns "" on
// success, else the message (nginx wording: `open() "PATH" failed (REASON)`).
std::string read_file(const std::string& path, std::string& out,
                      std::size_t max = max_config_file_size);

// Reads path and its includes into a tree. `include PATTERN;` is allowed in any block and
// replaced by the directives of the files it names: PATTERN is relative to the including file's
// folder; with * ? [ it is a glob (sorted; no match is fine), otherwise the file must exist.
// Throws ConfigError("FILE:LINE:COL: message"); an unreadable main file gives
// `open() "PATH" failed (REASON)` with no position.
ConfigTree parse_config_file(const std::string& path);

// Same, for text that stands for the file `path` (which need not exist: includes and
// relative paths resolve against its folder). Used by tests and by load_config_string().
ConfigTree parse_config_text(std::string_view text, const std::string& path);

} // namespace herald::config
