#include "audit/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sluice::audit {
namespace {

Status os_error(const std::string& what, const std::string& path) {
  return error(Code::io_error, what + " " + path + ": " + std::strerror(errno));
}

class PosixFile final : public WritableFile {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return os_error("writing", path_);
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return Status::ok();
  }
  Status sync() override {
    if (::fdatasync(fd_) != 0) return os_error("syncing", path_);
    // The log is written once and read rarely: once synced, its pages leave the page cache,
    // which then does not fill with write-once data (and the freed pages are likely the next
    // ones the writes take). Whole pages only, the last one being written again; and at
    // most once per MiB, which keeps the call (it may drain every CPU's page lists) off most
    // group commits.
    constexpr off_t kDropEvery = 1 << 20;
    static const off_t page = static_cast<off_t>(::sysconf(_SC_PAGESIZE));
    off_t end = ::lseek(fd_, 0, SEEK_CUR);
    off_t upto = end > 0 && page > 0 ? end - end % page : 0;
    if (upto - dropped_ >= kDropEvery) {
      ::posix_fadvise(fd_, dropped_, upto - dropped_, POSIX_FADV_DONTNEED);
      dropped_ = upto;
    }
    return Status::ok();
  }
  Status close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return os_error("closing", path_);
    return Status::ok();
  }

 private:
  int fd_;
  std::string path_;
  off_t dropped_ = 0;  // pages before this offset were let go after a sync
};

class PosixFs final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> create(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_APPEND, 0600);
    if (fd < 0) return os_error("creating", path);
    return std::unique_ptr<WritableFile>(new PosixFile(fd, path));
  }
  Status sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return os_error("opening directory", dir);
    int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) return os_error("syncing directory", dir);
    return Status::ok();
  }
  Status make_dir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return os_error("creating directory", dir);
    return Status::ok();
  }
  using FileSystem::read;
  Result<std::string> read(const std::string& path, std::size_t max_bytes) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return os_error("opening", path);
    std::string out;
    char buf[65536];
    while (out.size() < max_bytes) {
      ssize_t n = ::read(fd, buf, std::min(sizeof buf, max_bytes - out.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ::close(fd);
        return os_error("reading", path);
      }
      if (n == 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
  }
  Result<std::vector<std::string>> list(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return os_error("listing", dir);
    std::vector<std::string> out;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(std::move(name));
    }
    ::closedir(d);
    return out;
  }
  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return os_error("removing", path);
    return Status::ok();
  }
  Result<std::uint64_t> size(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return os_error("reading the size of", path);
    return static_cast<std::uint64_t>(st.st_size);
  }
};

}  // namespace

FileSystem& posix_fs() {
  static PosixFs fs;
  return fs;
}

}  // namespace sluice::audit
