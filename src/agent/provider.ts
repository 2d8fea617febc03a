/**
 * The model behind the agent, through the Vercel AI SDK: any OpenAI-compatible chat-completions
 * endpoint (OpenAI, Ollama, vLLM, LM Studio…) or Anthropic. Without a provider, model and (where
 * needed) base URL, the agent is "not configured" and says exactly what to set.
 */
import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LanguageModel } from 'ai';
import type { KeelOptions } from '../config/options.ts';

export type ProviderOptions = Pick<KeelOptions, 'agentProvider' | 'agentBaseUrl' | 'agentApiKey' | 'agentModel'>;

export interface ModelConfig {
  model: LanguageModel;
  /** Shown in turn events and /stream state: "<provider>:<model id>". */
  label: string;
}

/** What is missing for the agent to run, or [] when it is configured. */
export function missingSettings(o: ProviderOptions): string[] {
  if (o.agentProvider === 'none') return ['--agent-provider'];
  const missing: string[] = [];
  if (!o.agentModel) missing.push('--agent-model');
  if (o.agentProvider === 'openai-compatible' && !o.agentBaseUrl) missing.push('--agent-base-url');
  return missing;
}

export function configHelp(o: ProviderOptions): string {
  const missing = missingSettings(o);
  if (!missing.length) return `The agent uses ${o.agentProvider} model "${o.agentModel}"${o.agentBaseUrl ? ` at ${o.agentBaseUrl}` : ''}.`;
  const head =
    o.agentProvider === 'none'
      ? 'No model is configured for the agent.'
      : `The agent's ${o.agentProvider} provider is missing ${missing.join(' and ')} (or ${missing.map(envOf).join(' / ')}).`;
  return (
    `${head} Start Keel with one of:\n` +
    `  OpenAI-compatible (OpenAI, Ollama, vLLM, LM Studio): --agent-provider openai-compatible --agent-base-url https://api.openai.com/v1 --agent-model gpt-4.1-mini, key in OPENAI_API_KEY or KEEL_AGENT_API_KEY (Ollama: --agent-base-url http://127.0.0.1:11434/v1, no key);\n` +
    `  Anthropic: --agent-provider anthropic --agent-model claude-sonnet-4-5, key in ANTHROPIC_API_KEY or KEEL_AGENT_API_KEY.\n` +
    `The same settings work as KEEL_AGENT_PROVIDER, KEEL_AGENT_BASE_URL, KEEL_AGENT_MODEL or in the config file (agentProvider, agentBaseUrl, agentModel).`
  );
}

function envOf(flag: string): string {
  return 'KEEL_' + flag.slice(2).replaceAll('-', '_').toUpperCase();
}

/** The model, or null when not configured. `env` supplies OPENAI_API_KEY / ANTHROPIC_API_KEY when no key is set. */
export function createModel(o: ProviderOptions, env: NodeJS.ProcessEnv = process.env): ModelConfig | null {
  if (missingSettings(o).length) return null;
  const label = `${o.agentProvider}:${o.agentModel}`;
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
