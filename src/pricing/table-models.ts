// The models the bundled price table lists for a provider: what GET /v1/models falls back to when a provider cannot list its own.
import { findProvider } from '@pydantic/genai-prices';

/** Model ids the table prices for `provider` (sorted), or none when it does not know the provider. */
export function priceTableModels(provider: string): string[] {
  try {
    const found = findProvider({ providerId: provider });
    return found ? found.models.map((model) => model.id).sort() : [];
  } catch {
    return [];
  }
}
