'use strict';
/*
 * What fcemu's Node.js worker (worker.js) reports of its own process with each result:
 * its peak resident size (maxrssKb) and whether it may have child processes
 * (mayHaveChildren). Required by worker.js before any handler code loads, so that the
 * diagnostics channels below see every child process and worker thread a handler starts.
 * Standard library only.
 */

const fs = require('fs');
const diagnostics = require('diagnostics_channel');

function vmHwmKb() {
  try {
    const match = /^VmHWM:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'latin1'));
    if (match) return parseInt(match[1], 10);
  } catch (err) { /* not Linux */ }
  return 0;
}

// This process's peak resident size (KiB): getrusage's ru_maxrss (process.resourceUsage(),
// Node >= 12.6; kilobytes on Linux) costs a few microseconds where reading VmHWM from
// /proc/self/status costs a hundred. But ru_maxrss survives exec: the worker is started
// (through sh) from the emulator, so it may first be the emulator's peak, not the
// worker's. As the Python worker's PeakMemory (fcemu/runtime/handler_api.py): it is
// trusted once it is above its first figure, or from the start if that was not above
// VmHWM; until then VmHWM is read.
const rusageKb = process.platform === 'linux' && typeof process.resourceUsage === 'function'
  ? () => process.resourceUsage().maxRSS : null;
let rusageTrustedAbove = null; // null: never (no getrusage here); -1: always
if (rusageKb) {
  const start = rusageKb();
  rusageTrustedAbove = start <= vmHwmKb() ? -1 : start;
}

function maxrssKb() {
  if (rusageTrustedAbove !== null) {
    const peak = rusageKb();
    if (peak > rusageTrustedAbove) {
      rusageTrustedAbove = -1;
      return peak;
    }
  }
  return vmHwmKb() || (process.resourceUsage ? process.resourceUsage().maxRSS : 0);
}

// -- child processes ----------------------------------------------------------------------

// Whether this process may have child processes, for the result's "children": without
// them, the server checks the peak reported here and reads the instance's other processes
// at most once per MEMORY_POLL_S (fcemu/runtime/instance_memory.py), not after every
// request. Node reaps its children itself (libuv), so a child that exited leaves nothing
// behind. The running ones: the ChildProcess objects (spawn, exec, execFile, fork; ref'd
// or unref'd, detached or not) that the 'child_process' diagnostics channel announces,
// until libuv reaps them and sets their exitCode or signalCode; and whatever else holds a
// 'ProcessWrap' in process.getActiveResourcesInfo() (a reaped child's handle too, until it
// has closed: a request that awaited a child's exit may still say true). A worker thread's
// children cannot be seen from here (its modules are its own): while one runs, the answer
// is true. The children a child leaves behind when it exits are the launcher's orphans,
// read as the Python worker's own orphans are: at most MEMORY_POLL_S late. Without the
// channels (Node.js before 16.18, 17.x, 18 before 18.9) the answer is always true.
const [NODE_MAJOR, NODE_MINOR] = process.versions.node.split('.').map((n) => parseInt(n, 10));
const CAN_TELL_CHILDREN = typeof process.getActiveResourcesInfo === 'function'
  && (NODE_MAJOR >= 19 || (NODE_MAJOR === 18 && NODE_MINOR >= 9)
    || (NODE_MAJOR === 16 && NODE_MINOR >= 18));
const spawned = new Set(); // ChildProcess objects not seen reaped yet
const threads = new Set(); // Worker objects not seen ended yet
// kept here: Node.js 16 and 18 hold a channel weakly (only its publisher's reference)
const processChannel = CAN_TELL_CHILDREN ? diagnostics.channel('child_process') : null;
const threadChannel = CAN_TELL_CHILDREN ? diagnostics.channel('worker_threads') : null;
if (CAN_TELL_CHILDREN) {
  processChannel.subscribe((message) => spawned.add(message.process));
  threadChannel.subscribe((message) => threads.add(message.worker));
}

function mayHaveChildren() {
  if (!CAN_TELL_CHILDREN) return true;
  for (const child of spawned) {
    if (child.exitCode !== null || child.signalCode !== null) spawned.delete(child); // reaped
    else if (child.pid !== undefined) return true; // undefined: not started (or it failed)
  }
  for (const worker of threads) {
    if (worker.threadId === -1) threads.delete(worker); // -1 once the thread has ended
    else return true;
  }
  return process.getActiveResourcesInfo().includes('ProcessWrap');
}

module.exports = { maxrssKb, mayHaveChildren };
