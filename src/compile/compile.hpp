// Compiler backends: GeneratedSource -> CodeObject, behind one interface and a registry.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "codegen/codegen.hpp"
#include "ropegen/code_object.hpp"
#include "ropegen/options.hpp"

namespace ropegen {

/// One compiler backend. Implementations live under src/compile/<name>/.
class Compiler {
 public:
  virtual ~Compiler() = default;
  /// Short stable name ("host-cxx"); used by --compiler and in cache keys.
  virtual std::string name() const = 0;
  /// Version text of the underlying compiler; part of cache keys. Empty if unavailable.
  virtual std::string version() const = 0;
  /// The version a code object for `target` records (what a user cache entry is matched
  /// on): version() plus the target-specific flags the backend adds, if any.
  virtual std::string version_for(const Target& target) const {
    (void)target;
    return version();
  }
  /// Which vendor's targets the backend is for.
  virtual Vendor vendor() const = 0;
  /// Whether the backend can run on this machine; if not, `why` says what is missing.
  virtual bool available(std::string* why) const = 0;
  /// Whether it can produce code for the target; if not, `why` says so.
  virtual bool supports(const Target& target, std::string* why) const = 0;
  /// Compiles; throws Error(Compile) with the log, options and dumped source on failure.
  virtual CodeObject compile(const GeneratedSource& src, const CompileOptions& opts) const = 0;
};

/// Every registered backend, in order of preference.
const std::vector<const Compiler*>& compilers();

/// Picks the backend for a target: `forced` (a name) if given, else the first that is
/// available and supports the target. Throws Error(Compile) explaining each refusal.
/// `skipped`, if given, receives "name: why" for backends of the target's vendor that were
/// passed over (e.g. hiprtc for an ISA its comgr does not list).
const Compiler& select_compiler(const Target& target, const std::string& forced = "",
                                std::string* skipped = nullptr);

// Backend factories, one folder each under src/compile/.

}  // namespace ropegen
