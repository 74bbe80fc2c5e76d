// Types of text.js (plain JS so the browser loads it without a build step; tests import it too).
export function visibleText(value: unknown): string;
export function clip(text: string, max: number): string;
export function untrusted(value: unknown, options?: { max?: number; tag?: string; props?: Record<string, unknown> }): HTMLElement | null;
