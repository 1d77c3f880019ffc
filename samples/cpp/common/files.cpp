#include "files.h"

#include <fstream>
#include <iterator>

#include "error.h"

namespace natx {

std::vector<char> readFile(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(std::string(what) + " " + path + " not found or not readable");
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::vector<std::string> readLines(const std::string& path, const char* what) {
  std::ifstream f(path);
  if (!f) fail(std::string(what) + " " + path + " not found or not readable");
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  return lines;
}

bool fileExists(const std::string& path) {
  return std::ifstream(path).good();
}

}  // namespace natx
