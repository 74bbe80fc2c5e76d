// Types of scripts/check-deps.js (plain JavaScript, like the other scripts), for its test.
export declare function importsOf(file: string, text: string): { to: string; typeOnly: boolean }[];
export declare function moduleOf(file: string): string | null;
export declare function layerOf(module: string): number | null;
export declare function cycles(graph: Map<string, string[]>): string[][];
/** Recorded exceptions: file -> the length it may keep; `from -> to` import -> why it is still there. */
export interface Exceptions {
  lines: Record<string, number>;
  imports: Record<string, string>;
}
export declare function check(files: string[], read: (file: string) => string, exceptions?: Exceptions): { problems: string[]; stale: string[] };
