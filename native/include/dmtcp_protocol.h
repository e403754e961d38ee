/* dmtcp_protocol.h: frames and fields of the coordinator protocol, the C side (docs/ARCHITECTURE.md, "Coordinator protocol").
 *
 * Every message is a 16-byte frame header followed by `length` bytes of TLV fields. A TLV field is
 * u16 tag, u16 zero, u32 length, value, zero padding to a multiple of 8. Integers are little-endian.
 * src/protocol/constants.ts mirrors every number here; test/unit/native-constants.test.ts checks they agree. */
#ifndef DMTCP_PROTOCOL_H
#define DMTCP_PROTOCOL_H

#include <stdint.h>

#define DMTCP_PROTO_MAGIC 0x50544d44u          /* bytes "DMTP" */
#define DMTCP_PROTO_VERSION 1
#define DMTCP_PROTO_MAX_PAYLOAD (1u << 20)

struct dmtcp_frame {
  uint32_t magic;
  uint16_t version;
  uint16_t type;                               /* enum dmtcp_msg */
  uint32_t length;                             /* payload bytes */
  uint32_t seq;                                /* request number echoed in the reply, or 0 */
};

enum dmtcp_msg {
  DMTCP_MSG_HELLO_WORKER = 1,                  /* worker -> coordinator: a process joins */
  DMTCP_MSG_HELLO_CLIENT = 2,                  /* dmtcp_command and friends identify themselves */
  DMTCP_MSG_WELCOME = 3,                       /* coordinator -> either: accepted */
  DMTCP_MSG_REJECT = 4,                        /* coordinator -> either: refused, REASON says why; then closes */
  DMTCP_MSG_BARRIER = 5,                       /* coordinator -> worker: reach STATE */
  DMTCP_MSG_REACHED = 6,                       /* worker -> coordinator: STATE reached (or REASON on failure) */
  DMTCP_MSG_COMMAND = 7,                       /* client -> coordinator */
  DMTCP_MSG_RESULT = 8,                        /* coordinator -> client */
  DMTCP_MSG_KILL = 9,                          /* coordinator -> worker: exit now */
  DMTCP_MSG_ERROR = 10,                        /* either way: protocol error, REASON says which; then closes */
  DMTCP_MSG_UPDATE = 11,                       /* worker -> coordinator: informational change (program name after exec) */
  DMTCP_MSG_NS_PUBLISH = 20,                   /* worker -> coordinator: NAMES to record for this restart */
  DMTCP_MSG_NS_LOOKUP = 21,                    /* worker -> coordinator: NAMES (keys only) to look up */
  DMTCP_MSG_NS_ANSWER = 22,                    /* coordinator -> worker: NAMES with the values found */
  DMTCP_MSG_PROGRESS = 30,                     /* coordinator -> client: a blocking checkpoint's DONE_BYTES of TOTAL_BYTES,
                                                * sent only when its COMMAND asked with PROGRESS */
};

enum dmtcp_tag {
  DMTCP_TAG_PID = 1,                           /* u32 */
  DMTCP_TAG_PPID = 2,                          /* u32 */
  DMTCP_TAG_HOST = 3,                          /* str */
  DMTCP_TAG_PROGRAM = 4,                       /* str */
  DMTCP_TAG_ARGV = 5,                          /* str, NUL-separated */
  DMTCP_TAG_WORKER_ID = 6,                     /* str */
  DMTCP_TAG_COMPUTATION = 7,                   /* str */
  DMTCP_TAG_GENERATION = 8,                    /* u32 */
  DMTCP_TAG_STATE = 9,                         /* str: RUNNING SUSPENDED DRAINED CHECKPOINTED REFILLED RESTARTING */
  DMTCP_TAG_REASON = 10,                       /* str */
  DMTCP_TAG_IMAGE = 11,                        /* str: image path */
  DMTCP_TAG_IMAGE_BYTES = 12,                  /* u64 */
  DMTCP_TAG_RESTART = 13,                      /* u32: 1 when the worker comes back from an image */
  DMTCP_TAG_NPROCS = 14,                       /* u32: processes in the restarted computation */
  DMTCP_TAG_STREAM_SOCKET = 15,                /* str: image service socket for this checkpoint */
  DMTCP_TAG_CKPT_DIR = 16,                     /* str */
  DMTCP_TAG_COMMAND = 17,                      /* str: one of the dmtcp_command verbs */
  DMTCP_TAG_INTERVAL = 18,                     /* u32 seconds, 0 = off */
  DMTCP_TAG_JSON = 19,                         /* str: structured reply for clients */
  DMTCP_TAG_OK = 20,                           /* u32 */
  DMTCP_TAG_CLIENT = 21,                       /* str: client program name */
  DMTCP_TAG_PROTOCOL_VERSION = 22,             /* u32: sender's version, also inside REJECT */
  DMTCP_TAG_VPID = 23,                         /* u32: pid as the program sees it */
  DMTCP_TAG_ELAPSED_US = 24,                   /* u64 */
  DMTCP_TAG_SERVICE_PID = 25,                  /* u32: pid of the image service, allowed to read us (PR_SET_PTRACER) */
  DMTCP_TAG_PIDS = 26,                         /* u32 pairs (real pid, virtual pid) of every process in the barrier */
  DMTCP_TAG_NONCE = 40,                        /* u64: random per checkpoint, in DRAINED (the socket drain marker) */
  DMTCP_TAG_NAMES = 41,                        /* name service entries: (u16 key length, u16 value length, key, value)* */
  DMTCP_TAG_PROGRESS = 48,                     /* u32 in COMMAND: 1 = send PROGRESS frames (same seq) until RESULT */
  DMTCP_TAG_DONE_BYTES = 49,                   /* u64: page bytes encoded so far in this checkpoint */
  DMTCP_TAG_TOTAL_BYTES = 50,                  /* u64: page bytes expected (an estimate from resident memory; 0 = unknown) */
};

#endif
