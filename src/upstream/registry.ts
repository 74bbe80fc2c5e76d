// ProviderRegistry: the configured upstream providers by lower-case name, built once from config.providers.
import type { Provider } from './provider.ts';

export class ProviderRegistry {
  readonly #byName = new Map<string, Provider>();

  constructor(providers: readonly Provider[]) {
    for (const provider of providers) this.#byName.set(provider.name.toLowerCase(), provider);
  }

  get(name: string): Provider | undefined {
    return this.#byName.get(name.toLowerCase());
  }

  has(name: string): boolean {
    return this.#byName.has(name.toLowerCase());
  }

  list(): Provider[] {
    return [...this.#byName.values()];
  }
}
