/* dmtcp_layout.h: fixed addresses shared by the capture library and the restorer. */
#ifndef DMTCP_LAYOUT_H
#define DMTCP_LAYOUT_H

/* mtcp_restart is linked at RESTORER_BASE and must fit in RESTORER_SIZE (the build checks it). Every process
 * under checkpoint control reserves this range with a PROT_NONE mapping at startup, so the restorer can never
 * collide with an area it has to restore. The range sits far from where Linux places executables (0x4000xx,
 * 0x55..), the mmap area and the stack (0x7f..), and from the usual sanitizer and JIT ranges. */
#define RESTORER_BASE 0x3f0000000000UL
#define RESTORER_SIZE 0x2000000UL      /* 32 MiB */
/* The last MiB of the hole is scratch where the restorer parks the vDSO block when its old and new places overlap. */
#define RESTORER_VDSO_SCRATCH (RESTORER_BASE + RESTORER_SIZE - 0x100000UL)

#define DMTCP_MAX_SHMIDS 64
#define DMTCP_MAX_ZOMBIES 64
#define DMTCP_RESTART_INFO_VERSION 5

/* Handed by the restorer to the library's restart entry (rdi). */
struct dmtcp_restart_info {
  uint32_t magic;                      /* DMTCP_RESTART_INFO_MAGIC */
  uint32_t version;
  uint64_t restorer_lo, restorer_hi;   /* unmap, then reserve again */
  uint64_t entry_arg;
  int32_t brk_restored;                /* 1 when PR_SET_MM_MAP put brk back */
  int32_t lazy_fd;                     /* read end of a pipe the decoder closes once every lazy page is in, or -1 */
  int32_t lazy_uffd;                   /* our own copy of the lazy restore's userfaultfd (with lazy_fd), or -1 */
  uint32_t blob_len;
  uint8_t blob[8192];                  /* the RESTART record's TLV payload */
  uint32_t n_shmids;                   /* System V segments attached again: old id, new id, 1 if it had been removed */
  int32_t shmids[DMTCP_MAX_SHMIDS][3];
  uint32_t n_zombies;                  /* children recreated to end as they had: virtual pid, new real pid */
  int32_t zombies[DMTCP_MAX_ZOMBIES][2];
};
#define DMTCP_RESTART_INFO_MAGIC 0x52534d44u /* "DMSR" */

#endif
