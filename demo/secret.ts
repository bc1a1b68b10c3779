/** The demo's secret, apart from the app so that it can be checked without starting one. */

/**
 * For this demo only, so that `npm start` works with no setup. It is public: anybody can forge
 * cookies for an app that uses it. Real deployments set SESSION_SECRET (32+ random characters).
 */
export const DEMO_ONLY_INSECURE_SECRET = 'demo-only-insecure-secret-do-not-use-in-production';

export function demoSecret(env: NodeJS.ProcessEnv = process.env): { secret: string; isDemoSecret: boolean } {
  const fromEnv = env.SESSION_SECRET;
  return fromEnv ? { secret: fromEnv, isDemoSecret: false } : { secret: DEMO_ONLY_INSECURE_SECRET, isDemoSecret: true };
}
