import type { ChildProcess } from 'node:child_process';

/**
 * Ends a child process the tests started: SIGTERM, then SIGKILL if it has not exited after
 * `graceMs`. A child that hangs in its shutdown (an app waiting on a connection) would otherwise
 * outlive the suite, and its stdio pipes keep Jest from exiting.
 */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  return new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}
