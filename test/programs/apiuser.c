/* apiuser.c: a program that uses dmtcp.h itself. Prints "enabled N" and the coordinator status, then asks for a
 * checkpoint and keeps counting: "RESULT after-checkpoint gen=G" in the original process, "RESULT after-restart
 * gen=G restarts=R" when it runs again from that image. `apiuser critical` instead holds a critical section
 * (dmtcp_disable_ckpt) for 500 ms between "critical section entered" and "critical section left", then counts.
 * `apiuser probe` prints what every call answers and exits (for running outside dmtcp_launch). */
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "dmtcp.h"

static void count_forever(void)
{
  for (long n = 1;; n++) {
    printf("count %ld\n", n);
    struct timespec ts = { 0, 100 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("enabled %d\n", dmtcp_is_enabled());
  if (argc > 1 && !strcmp(argv[1], "critical")) {
    struct timespec settle = { 0, 200 * 1000 * 1000 };
    nanosleep(&settle, NULL);
    dmtcp_disable_ckpt();
    printf("critical section entered\n");
    struct timespec pause = { 0, 500 * 1000 * 1000 };
    nanosleep(&pause, NULL);
    printf("critical section left\n");
    dmtcp_enable_ckpt();
    count_forever();
  }
  int peers = -1, running = -1;
  int st = dmtcp_get_coordinator_status(&peers, &running);
  printf("coordinator %d peers=%d running=%d\n", st, peers, running);
  if (argc > 1 && !strcmp(argv[1], "probe")) {
    int ckpts = -1, restarts = -1;
    int local = dmtcp_get_local_status(&ckpts, &restarts);
    printf("checkpoint %d disable %d enable %d generation %d local %d %d %d\n", dmtcp_checkpoint(), dmtcp_disable_ckpt(),
           dmtcp_enable_ckpt(), dmtcp_get_generation(), local, ckpts, restarts);
    return 0;
  }
  int r = dmtcp_checkpoint();
  int ckpts = 0, restarts = 0;
  dmtcp_get_local_status(&ckpts, &restarts);
  if (r == DMTCP_AFTER_CHECKPOINT) printf("RESULT after-checkpoint gen=%d checkpoints=%d\n", dmtcp_get_generation(), ckpts);
  else if (r == DMTCP_AFTER_RESTART) printf("RESULT after-restart gen=%d restarts=%d\n", dmtcp_get_generation(), restarts);
  else printf("RESULT %d\n", r);
  count_forever();
}
