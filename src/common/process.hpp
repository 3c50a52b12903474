// Running external tools (compilers) without a shell, capturing their output.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ropegen::detail {

struct ProcessResult {
  int exit_code = -1;   ///< exit status, or -1 if it could not start / died by a signal
  std::string output;   ///< stdout and stderr, interleaved
  std::string error;    ///< why it could not start, if it did not
};

/// Runs argv[0] (looked up in PATH) with the arguments; never throws.
ProcessResult run_process(const std::vector<std::string>& argv);

/// Creates a fresh private temporary directory; throws Error(Io) on failure.
std::string make_temp_dir(const std::string& prefix);
/// Scratch directories older than this (modification time) belong to a process that died.
constexpr int64_t kStaleScratchSeconds = 3600;
/// Removes the scratch directories that killed compiles left in $TMPDIR (else /tmp): this
/// user's directories named as ropegen's backends, loader and disassembler make them
/// (`ropegen-clang-*`, ...) and as comgr makes them under hipRTC (`comgr-*`), not modified for
/// kStaleScratchSeconds. Symlinks and other users' directories are left alone. Returns how
/// many were removed; never throws.
size_t remove_stale_scratch_dirs();
/// Keeps at most `keep` of this user's directories `<prefix>-*` in $TMPDIR (else /tmp),
/// removing the oldest; returns how many were removed. Never throws.
size_t bound_temp_dirs(const std::string& prefix, size_t keep);
/// Removes a directory tree, ignoring errors.
void remove_tree(const std::string& path);
/// Reads a whole file of at most `max_bytes`; throws Error(Io) naming `what` and the path.
/// With `regular_only` (the default) a FIFO, device or directory is refused before anything
/// is read: the file is opened O_NONBLOCK | O_NOFOLLOW and checked with fstat, so a planted
/// FIFO cannot hang the caller.
std::string read_file(const std::string& path, size_t max_bytes = SIZE_MAX, bool regular_only = true,
                      const char* what = "file");
/// Replaces `path` with `data`: writes a fresh file beside it (random name ".tmp-XXXXXX",
/// created O_EXCL with mode 0600, then chmod'ed to `mode`), fsyncs it when `sync`, and
/// renames it over `path`. A symlink planted at `path` is replaced, never followed; readers
/// see the old file or the whole new one. Throws Error(Io).
void write_file(const std::string& path, const std::string& data, mode_t mode = 0600, bool sync = false);
/// Prefix of the temporary files write_file() leaves behind if it dies mid-write.
constexpr const char* kTempPrefix = ".tmp-";
/// Splits on `sep`, dropping empty parts ("a::b" -> {"a", "b"}).
std::vector<std::string> split_nonempty(const std::string& text, char sep);

/// The first of `names` found in `dirs` (a name containing '/' is taken as a path) that
/// access(2) allows with `mode` (R_OK, X_OK); "" when none is.
std::string find_file(const std::vector<std::string>& names, const std::vector<std::string>& dirs, int mode);

/// Joins argv into one line for messages (quotes arguments with spaces).
std::string join_command(const std::vector<std::string>& argv);

}  // namespace ropegen::detail
