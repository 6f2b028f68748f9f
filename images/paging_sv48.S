/* paging_sv48: Sv48 translation and page faults in S (see paging.inc). */
#define PAGING_LEVELS 4
#define PAGING_NAME paging_sv48
#include "paging.inc"
