/* paging_sv39: Sv39 translation and page faults in S (see paging.inc). */
#define PAGING_LEVELS 3
#define PAGING_NAME paging_sv39
#include "paging.inc"
