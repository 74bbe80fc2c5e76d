// What the admin API tells of model routing: an agent's model policy in force, and the circuits open now.
import type { Agent } from '../auth/agent.ts';
import type { OpenCircuit } from '../pipeline/circuit-check.ts';
import { allowedRefs, defaultRef, failoverRefs, isActive, type ParsedModelPolicy } from '../upstream/model-policy.ts';

/** The parts main.ts hands over: the model policy store and the circuits (both read from memory). */
export interface RoutingSources {
  readonly modelPolicies: { effective(agent: Agent): ParsedModelPolicy };
  readonly circuits: { open(): OpenCircuit[] };
}

export function circuitRows(sources: RoutingSources | undefined): Record<string, unknown>[] {
  return (sources?.circuits.open() ?? []).map((circuit) => ({
    provider: circuit.provider,
    model: circuit.model,
    state: circuit.state,
    until: new Date(circuit.until).toISOString(),
  }));
}

/** The agent's model policy as the proxy applies it, with the circuits of its refs that are open; null when none. */
export function modelPolicyView(sources: RoutingSources | undefined, agent: Agent): Record<string, unknown> | null {
  const parsed = sources?.modelPolicies.effective(agent);
  if (!parsed || parsed.kind === 'none') return null;
  if (parsed.kind === 'invalid') return { status: 'invalid', file: parsed.file, problems: parsed.problems };
  const { policy } = parsed;
  if (!isActive(policy)) return null;
  const refs = new Set(allowedRefs(policy));
  return {
    status: 'active',
    file: policy.file,
    mode: policy.mode.trim().toLowerCase() === 'reject' ? 'reject' : 'clamp',
    allowed: policy.allowed,
    default: defaultRef(policy),
    failover: failoverRefs(policy),
    circuits: circuitRows(sources).filter((row) => refs.has(`${row.provider}/${row.model}`)),
  };
}
