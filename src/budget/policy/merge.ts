// Policy sources merged field by field: the last source that sets a field wins; invalid fields are kept as problems.
import { POLICY_FIELDS, type FieldValues, type ParsedSource, type PolicyField } from './fields.ts';

export interface Merged {
  readonly values: Partial<FieldValues>;
  readonly invalid: Map<PolicyField, readonly string[]>;
  /** The source each field in force came from (valid or not). */
  readonly origin: Map<PolicyField, { readonly parsed: ParsedSource }>;
}

export function mergeSources(sources: readonly ParsedSource[]): Merged {
  const values: Record<string, unknown> = {};
  const invalid = new Map<PolicyField, readonly string[]>();
  const origin = new Map<PolicyField, { parsed: ParsedSource }>();
  for (const field of POLICY_FIELDS) {
    for (let index = sources.length - 1; index >= 0; index--) {
      const parsed = sources[index];
      const problem = parsed.invalid.get(field);
      const value = parsed.values[field];
      if (problem === undefined && value === undefined) continue;
      origin.set(field, { parsed });
      if (problem)
        invalid.set(
          field,
          problem.messages.map((message) => `${parsed.source.file}: ${message}`),
        );
      else values[field] = value;
      break;
    }
  }
  return { values: values as Partial<FieldValues>, invalid, origin };
}

export function reportInvalid(merged: Merged, field: PolicyField, problems: string[]): void {
  const messages = merged.invalid.get(field);
  if (messages) problems.push(...messages);
}

/** The source a field in force came from (only asked of fields the merge found, so never absent). */
export function originOf(merged: Merged, field: PolicyField): ParsedSource {
  const origin = merged.origin.get(field);
  if (!origin) throw new Error(`policy field ${field} has no source`);
  return origin.parsed;
}
