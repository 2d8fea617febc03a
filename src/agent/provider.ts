/**
 * The model behind the agent, through the Vercel AI SDK: any OpenAI-compatible chat-completions
 * endpoint (OpenAI, Ollama, vLLM, LM Studio…) or Anthropic. Without a provider, model and (where
 * needed) base URL, the agent is "not configured" and says exactly what to set.
 */
import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { missingSettings, modelLabel, type ModelConfig, type ProviderOptions } from './settings.ts';

export { configHelp, missingSettings, type ModelConfig, type ProviderOptions } from './settings.ts';

/** The model, or null when not configured. `env` supplies OPENAI_API_KEY / ANTHROPIC_API_KEY when no key is set. */
export function createModel(o: ProviderOptions, env: NodeJS.ProcessEnv = process.env): ModelConfig | null {
  if (missingSettings(o).length) return null;
  const label = modelLabel(o);
  if (o.agentProvider === 'anthropic') {
    const apiKey = o.agentApiKey || env.ANTHROPIC_API_KEY || '';
    const provider = createAnthropic({ apiKey, ...(o.agentBaseUrl ? { baseURL: o.agentBaseUrl.replace(/\/+$/, '') } : {}) });
    return { model: provider(o.agentModel), label };
  }
  const apiKey = o.agentApiKey || env.OPENAI_API_KEY || '';
  const provider = createOpenAICompatible({
    name: 'openai-compatible',
    baseURL: o.agentBaseUrl.replace(/\/+$/, ''),
    // Local servers need no key; sending an empty Bearer header upsets some proxies.
    ...(apiKey ? { apiKey } : {}),
    includeUsage: true,
  });
  return { model: provider.chatModel(o.agentModel), label };
}
