#include <stdio.h>

#include "ropegen/ropegen.h"

int main(void) {
  ropegen_context* ctx = NULL;
  if (ropegen_context_create("host", -1, &ctx) != ROPEGEN_OK) {
    printf("consumer_c: %s\n", ropegen_last_error());
    return 1;
  }
  printf("consumer_c: OK (ropegen %s)\n", ropegen_version_string());
  ropegen_context_destroy(ctx);
  return 0;
}
