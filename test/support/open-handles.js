/**
 * Jest's globalTeardown: lists what is still open after the last suite (a child process, a socket, a
 * server, a timer), which would keep the run from ending. The suites run in band, so their handles
 * are this process's. Jest's `forceExit` ends the run anyway (a leak must not hang CI, as one did);
 * this report says what leaked, so that it can be fixed. Plain JavaScript: Jest loads global hooks
 * outside ts-jest's ESM transform.
 */
// Not unref'd: if what was open closes meanwhile, nothing else would keep the process alive, and it
// would end before Jest writes its results (CI reads them).
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function describe(handle) {
  const name = handle?.constructor?.name ?? typeof handle;
  if (handle === process.stdout || handle === process.stderr || handle === process.stdin) return undefined;
  if (name === 'ChildProcess') return `child process ${handle.pid}: ${(handle.spawnargs ?? []).join(' ').slice(0, 160)}`;
  if (name === 'Socket' || name === 'TLSSocket') {
    if (handle.remotePort !== undefined) return `socket ${handle.localAddress}:${handle.localPort} -> ${handle.remoteAddress}:${handle.remotePort}`;
    // A child's stdio pipe: listed with its child.
    return handle._handle?.constructor?.name === 'Pipe' ? undefined : `socket (${handle._handle?.constructor?.name ?? 'closed'})`;
  }
  if (name === 'Server') {
    const a = handle.address?.();
    return `server listening on ${a && typeof a === 'object' ? `${a.address}:${a.port}` : a}`;
  }
  return name;
}

function leftOpen() {
  const handles = process._getActiveHandles().map(describe).filter((d) => d !== undefined);
  const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;
  return { handles, timers, any: handles.length > 0 || timers > 0 };
}

export default async function openHandles() {
  if (!leftOpen().any) return;
  // Sockets and children that are closing get a moment to finish.
  await sleep(500);
  const { handles, timers, any } = leftOpen();
  if (!any) return;
  const lines = [...handles, ...(timers ? [`${timers} timer(s) not unref'd`] : [])];
  process.stderr.write(`\nOpen after the last suite (Jest's forceExit ends the run; fix the suite that left them):\n${lines.map((l) => `  - ${l}`).join('\n')}\n`);
  // forceExit would leave them running after Jest, holding their ports.
  for (const h of process._getActiveHandles()) if (h?.constructor?.name === 'ChildProcess') h.kill('SIGKILL');
}
