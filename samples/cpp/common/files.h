// Reading whole files.
#pragma once

#include <string>
#include <vector>

namespace natx {

// The bytes of `path`; fails with "<what> <path> not found or not readable".
std::vector<char> readFile(const std::string& path, const char* what);

// The lines of a text file (a labels file: one label per line).
std::vector<std::string> readLines(const std::string& path, const char* what);

bool fileExists(const std::string& path);

}  // namespace natx
