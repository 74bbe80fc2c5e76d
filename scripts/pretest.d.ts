// Types of scripts/pretest.js (plain JavaScript: it runs before the type check), for the test of its decisions.
type Which = (name: string) => string | null;
type Env = Record<string, string | undefined>;

export declare const DEFAULT_REDIS_URL: string;
export declare const DEBIAN_CHROMIUM: string;
export declare function installBlocker(input: { env: Env; uid: number; which: Which }): string | null;
export declare function chromiumCandidates(input: { env: Env; which: Which }): string[];
export declare function chromiumPlan(input: { env: Env; found: string | undefined; blocker: string | null }):
  | { action: 'use'; path: string; note: string }
  | { action: 'install' }
  | { action: 'fail'; line: string };
export declare function redisPlan(input: { url: string; reachable: boolean; serverInstalled: boolean }): { action: 'use' } | { action: 'start' } | { action: 'fail'; line: string };
export declare function redactUrl(url: string): string;
export declare function whichOn(path: string | undefined): Which;
export interface PreparedTestEnvironment {
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}
export declare function prepareTestEnvironment(options?: { env?: Env; log?: (line: string) => void }): Promise<PreparedTestEnvironment>;
export declare function pretestOrExit(options?: { env?: Env; log?: (line: string) => void }): Promise<PreparedTestEnvironment>;
