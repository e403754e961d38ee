// counter.js: the Node.js counterpart of counter.c, driven by the event loop (epoll, eventfd and timers inside
// libuv, and its thread pool). A second timer checks that the loop's clock never ran backward.
// Usage: node counter.js [interval_ms]. Prints "count N" lines.
'use strict';
const interval = Number(process.argv[2] ?? 50);
let n = 0;
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  if (now < last) console.log(`FAIL: the clock went back by ${last - now} ms`);
  last = now;
  n += 1;
  console.log(`count ${n}`);
}, interval);
