#include "process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "ropegen/error.hpp"

extern char** environ;

namespace ropegen::detail {

ProcessResult run_process(const std::vector<std::string>& argv) {
  ProcessResult r;
  if (argv.empty()) {
    r.error = "empty command";
    return r;
  }
  int fds[2];
  if (pipe(fds) != 0) {
    r.error = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    r.error = "cannot run '" + argv[0] + "': " + std::strerror(rc);
    return r;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) {
      r.output.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
    // posix_spawnp may report a missing program only through exit code 127.
    if (r.exit_code == 127 && r.output.empty()) r.error = "cannot run '" + argv[0] + "' (not found)";
  } else {
    r.error = "'" + argv[0] + "' was killed by signal " + std::to_string(WTERMSIG(status));
  }
  return r;
}

namespace {

std::string temp_root() {
  const char* base = std::getenv("TMPDIR");
  return base && *base ? base : "/tmp";
}

struct OwnDir {
  std::string path;
  int64_t mtime;
};

/// This user's directories (not symlinks) in temp_root() whose names start with one of
/// `prefixes`, oldest first.
std::vector<OwnDir> own_temp_dirs(const std::vector<std::string>& prefixes) {
  std::vector<OwnDir> out;
  const std::string root = temp_root();
  DIR* d = opendir(root.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    bool match = false;
    for (const auto& p : prefixes) match = match || name.rfind(p, 0) == 0;
    struct stat st {};
    if (!match || lstat((root + "/" + name).c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
      continue;
    out.push_back({root + "/" + name, static_cast<int64_t>(st.st_mtime)});
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const OwnDir& a, const OwnDir& b) { return a.mtime < b.mtime; });
  return out;
}

}  // namespace

size_t remove_stale_scratch_dirs() {
  // The prefixes of make_temp_dir() in the backends, the host loader and --disasm; comgr's
  // own (hipRTC) is "comgr-XXXXXX". Failed-compile dumps ("ropegen-failed") are meant to be
  // read: bound_temp_dirs() keeps the newest of them instead.
  static const std::vector<std::string> prefixes = {"ropegen-clang-", "ropegen-host-", "ropegen-load-",
                                                    "ropegen-disasm-", "comgr-"};
  size_t removed = 0;
  try {
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    for (const OwnDir& d : own_temp_dirs(prefixes)) {
      if (now - d.mtime < kStaleScratchSeconds) break;  // oldest first: the rest are younger
      std::error_code ec;
      removed += std::filesystem::remove_all(d.path, ec) > 0 && !ec ? 1 : 0;
    }
  } catch (...) {
  }
  return removed;
}

size_t bound_temp_dirs(const std::string& prefix, size_t keep) {
  size_t removed = 0;
  try {
    const std::vector<OwnDir> dirs = own_temp_dirs({prefix + "-"});
    for (size_t i = 0; i + keep < dirs.size(); ++i) {
      std::error_code ec;
      removed += std::filesystem::remove_all(dirs[i].path, ec) > 0 && !ec ? 1 : 0;
    }
  } catch (...) {
  }
  return removed;
}

std::string make_temp_dir(const std::string& prefix) {
  std::string templ = temp_root() + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data()))
    throw Error(ErrorKind::Io, "cannot create a temporary directory from '" + templ + "': " +
                                   std::strerror(errno));
  return buf.data();
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

namespace {

std::string size_text(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

std::string read_file(const std::string& path, size_t max_bytes, bool regular_only, const char* what) {
  const int flags = O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK | O_NOFOLLOW : 0);
  int fd = open(path.c_str(), flags);
  if (fd < 0)
    throw Error(ErrorKind::Io, std::string("cannot open ") + what + " '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || (regular_only && !S_ISREG(st.st_mode))) {
    close(fd);
    throw Error(ErrorKind::Io, std::string(what) + " '" + path + "' is not a regular file");
  }
  std::string out;
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) <= max_bytes)
    out.reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      throw Error(ErrorKind::Io, std::string("cannot read ") + what + " '" + path + "': " + std::strerror(err));
    }
    if (n == 0) break;
    if (static_cast<size_t>(n) > max_bytes - out.size()) {
      close(fd);
      throw Error(ErrorKind::Io, std::string(what) + " '" + path + "' is larger than " + size_text(max_bytes));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

void write_file(const std::string& path, const std::string& data, mode_t mode, bool sync) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string templ = dir + "/" + kTempPrefix + "XXXXXX";
  std::vector<char> name(templ.begin(), templ.end());
  name.push_back('\0');
  // mkostemp: a random name created O_CREAT | O_EXCL (never through a symlink), mode 0600.
  int fd = mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) throw Error(ErrorKind::Io, "cannot create a file in '" + dir + "': " + std::strerror(errno));
  const std::string tmp = name.data();
  auto fail = [&](const std::string& doing) {
    const int err = errno;
    close(fd);
    unlink(tmp.c_str());
    throw Error(ErrorKind::Io, "cannot " + doing + " '" + path + "': " + std::strerror(err));
  };
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    done += static_cast<size_t>(n);
  }
  if (mode != 0600 && fchmod(fd, mode) != 0) fail("set the mode of");
  if (sync && fsync(fd) != 0) fail("flush");
  if (close(fd) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    throw Error(ErrorKind::Io, "cannot write '" + path + "': " + std::strerror(err));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    throw Error(ErrorKind::Io, "cannot create '" + path + "': " + std::strerror(err));
  }
}

std::vector<std::string> split_nonempty(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string find_file(const std::vector<std::string>& names, const std::vector<std::string>& dirs, int mode) {
  for (const auto& n : names) {
    if (n.find('/') != std::string::npos) {
      if (access(n.c_str(), mode) == 0) return n;
      continue;
    }
    for (const auto& d : dirs) {
      std::string full = d + "/" + n;
      if (access(full.c_str(), mode) == 0) return full;
    }
  }
  return "";
}

std::string join_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    if (a.find(' ') != std::string::npos) out += "'" + a + "'";
    else out += a;
  }
  return out;
}

}  // namespace ropegen::detail
