// Types of format.js (plain JS so the browser loads it without a build step; the CLI and tests import it too).
export type Tone = 'ok' | 'warn' | 'high' | 'over';
export function formatCount(value: number | null | undefined): string;
export function formatTokens(value: number | null | undefined): string;
export function formatUsdMicros(micros: number | null | undefined): string;
export function formatSpend(micros: number | null | undefined, unknownCalls: number | null | undefined): string;
export function formatUsd(usd: number | null | undefined): string;
export function formatMetric(metric: string, value: number | null | undefined): string;
export function metricLabel(metric: string): string;
export function formatDuration(ms: number | null | undefined): string;
export function forecastText(limit: { forecast?: { exhausted_in_ms: number | null } | null } | null | undefined, elapsed?: number): string | null;
export function formatPercent(fraction: number | null | undefined): string;
export function fractionTone(fraction: number): Tone;
export function formatClock(iso: string): string;
export function formatAgo(iso: string, now: number): string;
