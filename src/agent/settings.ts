/**
 * What the agent needs configured, and how to say what is missing. Kept apart from provider.ts
 * (which imports the AI SDK and its providers, ~9 MB of RSS) so Keel can tell whether a model is
 * configured without loading them: they load only when one is.
 */
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

/** "<provider>:<model id>", as turn events and /stream state show it. */
export function modelLabel(o: ProviderOptions): string {
  return `${o.agentProvider}:${o.agentModel}`;
}
