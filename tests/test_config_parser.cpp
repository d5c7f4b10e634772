// Unit tests for the config parser (include/config/parser.hpp): directive tree, syntax errors
// with FILE:LINE:COL, include expansion with globs, nesting and size limits.
#include <criterion/criterion.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/parser.hpp"
#include "support/config_files.hpp"

namespace fs = std::filesystem;
using herald::config::ConfigError;
using herald::config::ConfigTree;
using herald::config::Directive;
using herald::config::parse_config_file;
using herald::config::parse_config_text;
using herald::test::TempDir;

namespace {

// Compares strings held by the caller (Criterion's str_eq keeps raw pointers, which would
// dangle for temporaries).
void expect_str(const std::string& got, const std::string& want) {
    cr_expect(got == want, "got:  %s\nwant: %s", got.c_str(), want.c_str());
}

void dump_list(const ConfigTree& tree, const std::vector<Directive>& list, std::string& out);

// `name@L:C arg "quoted";` or `name@L:C args {children}`, file index shown when not 0.
void dump_directive(const ConfigTree& tree, const Directive& d, std::string& out) {
    out += d.name + "@" + std::to_string(d.pos.line) + ":" + std::to_string(d.pos.col);
    if (d.file != 0) out += "[" + fs::path(tree.files[d.file].path).filename().string() + "]";
    for (const auto& a : d.args) out += a.quoted ? " \"" + a.value + "\"" : " " + a.value;
    if (!d.block) {
        out += ";";
        return;
    }
    out += "{";
    dump_list(tree, d.children, out);
    out += "}";
}

void dump_list(const ConfigTree& tree, const std::vector<Directive>& list, std::string& out) {
    for (std::size_t i = 0; i < list.size(); ++i) {
        if (i) out += " ";
        dump_directive(tree, list[i], out);
    }
}

std::string parse_text(std::string_view text, const std::string& path = "t.conf") {
    try {
        ConfigTree tree = parse_config_text(text, path);
        std::string out;
        dump_list(tree, tree.directives, out);
        return out;
    } catch (const ConfigError& e) {
        return e.what();
    }
}

std::string parse_file(const std::string& path) {
    try {
        ConfigTree tree = parse_config_file(path);
        std::string out;
        dump_list(tree, tree.directives, out);
        return out;
    } catch (const ConfigError& e) {
        return e.what();
    }
}

struct Case {
    const char* name;
    const char* input;
    const char* want;
};

const Case cases[] = {
    {"empty", "", ""},
    {"one_directive", "worker_threads 4;", "worker_threads@1:1 4;"},
    {"quoted_args", "echo \"a b\" 'c' d;", "echo@1:1 \"a b\" \"c\" d;"},
    {"nested_blocks", "http {\n  server { listen 80; }\n}\n",
     "http@1:1{server@2:3{listen@2:12 80;}}"},
    {"block_with_args", "location = /x { a; }", "location@1:1 = /x{a@1:17;}"},
    {"empty_block", "events {}", "events@1:1{}"},
    {"siblings", "a; b {} c;", "a@1:1; b@1:4{} c@1:9;"},
    {"eof_in_directive", "root /x", "t.conf:1:8: unexpected end of file, expecting \";\" or \"}\""},
    {"eof_in_block", "http {\n server {\n }\n",
     "t.conf:4:1: unexpected end of file, expecting \"}\""},
    {"stray_close", "a;\n}", "t.conf:2:1: unexpected \"}\""},
    {"close_in_directive", "http { root /x }", "t.conf:1:16: unexpected \"}\""},
    {"stray_semicolon", "a;;", "t.conf:1:3: unexpected \";\""},
    {"stray_open", "{ a; }", "t.conf:1:1: unexpected \"{\""},
    {"lexer_error_has_file", "a \"b\\x\";", "t.conf:1:5: invalid escape \"\\x\""},
    {"include_arity", "include;",
     "t.conf:1:1: invalid number of arguments in \"include\" directive"},
    {"include_two_args", "include a b;",
     "t.conf:1:1: invalid number of arguments in \"include\" directive"},
    {"include_block", "include a { }",
     "t.conf:1:1: directive \"include\" is not terminated by \";\""},
    {"include_missing", "http {\n    include /nonexistent/herald/x.conf;\n}",
     "t.conf:2:13: open() \"/nonexistent/herald/x.conf\" failed (No such file or directory)"},
    {"include_glob_no_match", "include /nonexistent/herald/*.conf; a;", "a@1:37;"},
};

} // namespace

Test(config_parser, cases) {
    for (const Case& c : cases) {
        std::string got = parse_text(c.input);
        cr_expect_str_eq(got.c_str(), c.want, "%s", c.name);
    }
}

Test(config_parser, block_depth_limit) {
    std::string ok, deep;
    for (int i = 0; i < herald::config::max_block_depth; ++i) ok += "a{";
    ok += std::string(herald::config::max_block_depth, '}');
    cr_expect(parse_text(ok).find("t.conf") == std::string::npos, "%s", parse_text(ok).c_str());
    for (int i = 0; i <= herald::config::max_block_depth; ++i) deep += "a{";
    std::string want = "t.conf:1:" + std::to_string(2 * herald::config::max_block_depth + 2) +
                       ": blocks nested too deeply (over " +
                       std::to_string(herald::config::max_block_depth) + " levels)";
    expect_str(parse_text(deep), want);
}

Test(config_parser, main_file_errors) {
    expect_str(parse_file("/nonexistent/herald.conf"),
               "open() \"/nonexistent/herald.conf\" failed (No such file or directory)");
    TempDir dir;
    expect_str(parse_file(dir.path()), ("read() \"" + dir.path() + "\" failed (Is a directory)"));
}

Test(config_parser, include_glob_sorted_and_relative_to_including_file) {
    TempDir dir;
    std::string main = dir.write("main.conf", "a;\ninclude conf.d/*.conf;\nz;\n");
    dir.write("conf.d/b.conf", "b;\ninclude ../inner/x.conf;\n");
    dir.write("conf.d/a.conf", "http { in_a; }\n");
    dir.write("conf.d/ignored.txt", "ignored;\n");
    dir.write("conf.d/.hidden.conf", "hidden;\n");
    dir.write("inner/x.conf", "  x 1;\n");
    expect_str(parse_file(main), "a@1:1; http@1:1[a.conf]{in_a@1:8[a.conf];} b@1:1[b.conf]; "
                                 "x@1:3[x.conf] 1; z@3:1;");
}

Test(config_parser, include_inside_block_and_files_recorded) {
    TempDir dir;
    std::string main = dir.write("main.conf", "http {\n  include mime.types;\n  server {}\n}\n");
    dir.write("mime.types", "types { text/html html; }\n");
    ConfigTree tree = parse_config_file(main);
    cr_assert_eq(tree.files.size(), 2u);
    expect_str(tree.files[0].path, main);
    expect_str(tree.files[0].dir, dir.path());
    expect_str(tree.files[1].path, (dir.path() + "/mime.types"));
    const Directive& http = tree.directives.at(0);
    cr_assert_eq(http.children.size(), 2u);
    expect_str(http.children[0].name, "types");
    cr_expect_eq(http.children[0].file, 1u);
    expect_str(http.children[1].name, "server");
}

Test(config_parser, relative_main_path_shown_as_given) {
    TempDir dir;
    dir.write("sub/main.conf", "include inc.conf;\n");
    dir.write("sub/inc.conf", "a;\n  }\n");
    std::error_code ec;
    fs::path old = fs::current_path();
    fs::current_path(dir.path());
    std::string got = parse_file("sub/main.conf");
    fs::current_path(old, ec);
    expect_str(got, "sub/inc.conf:2:3: unexpected \"}\"");
}

Test(config_parser, errors_in_included_file_name_that_file) {
    TempDir dir;
    std::string main = dir.write("main.conf", "http {\n include site.conf;\n}\n");
    dir.write("site.conf", "server {\n  listen 80;\n");
    std::string want = dir.path() + "/site.conf:3:1: unexpected end of file, expecting \"}\"";
    expect_str(parse_file(main), want);
}

Test(config_parser, unbalanced_include_does_not_close_parent_block) {
    TempDir dir;
    std::string main = dir.write("main.conf", "http {\n include close.conf;\n");
    dir.write("close.conf", "}\n");
    std::string want = dir.path() + "/close.conf:1:1: unexpected \"}\"";
    expect_str(parse_file(main), want);
}

Test(config_parser, include_depth_limit) {
    TempDir dir;
    std::string main = dir.write("self.conf", "\n  include self.conf;\n");
    std::string want = main + ":2:3: include nesting is too deep (over " +
                       std::to_string(herald::config::max_include_depth) + " levels)";
    expect_str(parse_file(main), want);

    // max_include_depth levels are fine.
    for (int i = 0; i < herald::config::max_include_depth; ++i)
        dir.write("d" + std::to_string(i) + ".conf",
                  "include d" + std::to_string(i + 1) + ".conf;\n");
    dir.write("d" + std::to_string(herald::config::max_include_depth) + ".conf", "leaf;\n");
    std::string got = parse_file(dir.path() + "/d0.conf");
    cr_expect(got.rfind("leaf@1:1[d", 0) == 0, "%s", got.c_str());
}

Test(config_parser, file_size_limit) {
    TempDir dir;
    std::string big(herald::config::max_config_file_size + 1, '\n');
    std::string big_path = dir.write("big.conf", big);
    std::string main = dir.write("main.conf", "include big.conf;\n");
    std::string want = main + ":1:9: \"" + big_path + "\" is too large (over " +
                       std::to_string(herald::config::max_config_file_size) + " bytes)";
    expect_str(parse_file(main), want);
    expect_str(parse_file(big_path), want.substr(want.find('"')));

    big.pop_back();
    dir.write("big.conf", big);
    expect_str(parse_file(main), "");
}

Test(config_parser, glob_matching_a_directory_is_an_error) {
    TempDir dir;
    std::string main = dir.write("main.conf", "include d*;\n");
    fs::create_directories(dir.path() + "/dir");
    std::string want = main + ":1:9: read() \"" + dir.path() + "/dir\" failed (Is a directory)";
    expect_str(parse_file(main), want);
}

Test(config_parser, glob_metacharacters_in_folder_are_literal) {
    TempDir dir;
    std::string main = dir.write("we[ir]d*/main.conf", "include *.inc;\n");
    dir.write("we[ir]d*/a.inc", "a;\n");
    dir.write("wid/b.inc", "b;\n");
    expect_str(parse_file(main), "a@1:1[a.inc];");
}
