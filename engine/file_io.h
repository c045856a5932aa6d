#pragma once
// Whole-file reads and atomic writes (temp file in the same directory, fsync,
// rename), so a crash mid-write never leaves a half-written checkpoint.
#include <cstdint>
#include <string>
#include <vector>

namespace cadenza {

// Reads a whole file; throws cadenza::Error naming the file when it cannot.
std::vector<uint8_t> read_file(const std::string& path);

// Creates `dir` and its missing parents (mkdir -p); throws cadenza::Error
// naming the directory that cannot be made.
void make_dirs(const std::string& dir);

// FNV-1a, 64 bits: a stable hash for cache keys and file splits (the same on
// every machine and standard library, unlike std::hash).
uint64_t fnv1a64(const std::string& s);

// Writes `size` bytes to `path` atomically.
void write_file_atomic(const std::string& path, const void* data, size_t size);
inline void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace cadenza
