// The file operations the audit log needs, behind an interface so that tests can substitute a
// layer that loses everything not yet synced (as a power cut would) and check that no
// acknowledged record is lost (tests/unit/audit_test.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::audit {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status append(std::string_view data) = 0;
  // Data appended so far survives a crash once this returns ok (fdatasync).
  virtual Status sync() = 0;
  virtual Status close() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Creates a new file; fails if it exists.
  virtual Result<std::unique_ptr<WritableFile>> create(const std::string& path) = 0;
  // Makes the directory's entries (new files, removals) durable.
  virtual Status sync_dir(const std::string& dir) = 0;
  virtual Status make_dir(const std::string& dir) = 0;
  // The file's first `max_bytes` bytes (retention reads one record of a 64 MiB segment).
  virtual Result<std::string> read(const std::string& path, std::size_t max_bytes) = 0;
  Result<std::string> read(const std::string& path) { return read(path, SIZE_MAX); }
  // File names (not paths) in `dir`.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;
  virtual Status remove(const std::string& path) = 0;
  virtual Result<std::uint64_t> size(const std::string& path) = 0;
};

// The real one (POSIX).
FileSystem& posix_fs();

}  // namespace sluice::audit
