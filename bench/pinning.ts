import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the benchmarks can put the app on core 1 and the load on core 0. Counted on the machine's
 * cores, not availableParallelism(): a bench re-runs itself under `taskset -c 0`, where that says 1,
 * and its apps would then inherit core 0 beside the load instead of being put on core 1.
 */
export const PIN = hasTaskset() && cpus().length >= 2;
