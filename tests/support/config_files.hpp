// Test support for the config suites: a scratch folder for config files and includes, and a
// one-call loader that returns the error message (or "OK").
#pragma once

#include <criterion/criterion.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "config/config.hpp"

namespace herald::test {

// A fresh folder under /tmp, removed when the object goes away.
class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/herald-config-XXXXXX";
        cr_assert(mkdtemp(tmpl) != nullptr);
        path_ = tmpl;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    // Writes text to path()/rel (folders created as needed); returns the full path.
    std::string write(const std::string& rel, std::string_view text) const {
        std::filesystem::path p = std::filesystem::path(path_) / rel;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }

private:
    std::string path_;
};

// load_config_string() as "t.conf" in the working directory: "OK" or the error message.
inline std::string load_error(const std::string& text) {
    try {
        config::load_config_string(text, "t.conf");
        return "OK";
    } catch (const config::ConfigError& e) {
        return e.what();
    }
}

} // namespace herald::test
