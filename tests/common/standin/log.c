/* Call log shared by the stand-in libraries: each stand-in library records the calls it
 * receives, readable through standin_log(). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "standin.h"

static char g_log[1 << 16];
static size_t g_len;

void standin_logf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (g_len < sizeof g_log - 1) {
    int n = vsnprintf(g_log + g_len, sizeof g_log - g_len, fmt, ap);
    if (n > 0) g_len += (size_t)n < sizeof g_log - g_len ? (size_t)n : sizeof g_log - 1 - g_len;
  }
  if (g_len < sizeof g_log - 1) g_log[g_len++] = '\n';
  g_log[g_len] = 0;
  va_end(ap);
}

STANDIN_EXPORT const char* standin_log(void) { return g_log; }
STANDIN_EXPORT void standin_log_clear(void) {
  g_len = 0;
  g_log[0] = 0;
}
STANDIN_EXPORT const char* standin_tag(void) { return STANDIN_TAG; }
