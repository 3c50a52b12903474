/* libamd_comgr stand-in: the ISA list differs by major version (.so.2 vs .so.3) so a test
 * can tell which comgr ropegen asked. */
#include <stddef.h>

#include "standin.h"

#ifndef STANDIN_COMGR_MAJOR
#error "STANDIN_COMGR_MAJOR must be 2 or 3"
#endif

static const char* const k_isas[] = {
    "amdgcn-amd-amdhsa--gfx90a:sramecc+:xnack-",
    "amdgcn-amd-amdhsa--gfx1030",
#if STANDIN_COMGR_MAJOR >= 3
    "amdgcn-amd-amdhsa--gfx1100",
    "amdgcn-amd-amdhsa--gfx950",
#endif
};

STANDIN_EXPORT int amd_comgr_get_isa_count(size_t* count) {
  standin_logf("amd_comgr_get_isa_count");
  *count = sizeof k_isas / sizeof k_isas[0];
  return 0;
}

STANDIN_EXPORT int amd_comgr_get_isa_name(size_t index, const char** name) {
  if (index >= sizeof k_isas / sizeof k_isas[0]) return 2; /* AMD_COMGR_STATUS_ERROR_INVALID_ARGUMENT */
  *name = k_isas[index];
  return 0;
}

STANDIN_EXPORT void amd_comgr_get_version(size_t* major, size_t* minor) {
  *major = STANDIN_COMGR_MAJOR;
  *minor = 99;
}
