// ProviderRegistry: the configured upstream providers by lower-case name, from config.providers, changed by the key pool.
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

  /** Adds or replaces a provider (the key pool: keys added, a provider added from the UI or the file). */
  set(provider: Provider): void {
    this.#byName.set(provider.name.toLowerCase(), provider);
  }

  delete(name: string): void {
    this.#byName.delete(name.toLowerCase());
  }

  list(): Provider[] {
    return [...this.#byName.values()];
  }
}
