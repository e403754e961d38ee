# counter.py: the counter test program in Python: prints "count N" every 100 ms; a restart must continue the counts.
import sys
import time

n = 0
while True:
    n += 1
    print(f"count {n}", flush=True)
    time.sleep(0.1)
