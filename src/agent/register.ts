/**
 * The agent subsystem: builds the AgentService from the options, registers it as
 * `ctx.services.agent`, and reports to /debug/memory, /metrics and the start-up budget. It has no
 * routes of its own: the chat API (src/chat) starts and cancels turns, /stream carries the events.
 * The event log and the terminals are read from `ctx.services` at use time.
 */
import type { FastifyInstance } from 'fastify';
import type { KeelContext } from '../context.ts';
import { AgentService } from './agent.ts';
import { managerControl, type TerminalControl } from './terminal-control.ts';
import type { Agent } from './types.ts';

declare module '../context.ts' {
  interface KeelServices {
    /**
     * The agent: turns, queue, cancel, state. Typed as the contract (src/agent/types.ts) because
     * tests may install a scripted stand-in (src/chat/test-agent.ts).
     */
    agent: Agent;
  }
}

export async function registerAgent(_app: FastifyInstance, ctx: KeelContext): Promise<void> {
  let control: { mgr: unknown; ctrl: TerminalControl } | undefined;
  const agent = ctx.owner.add(
    new AgentService({
      options: ctx.options,
      clock: ctx.clock,
      log: ctx.log.child({ subsystem: 'agent' }),
      events: () => ctx.services.eventLog,
      terminals: () => {
        const mgr = ctx.services.terminals;
        if (!mgr) return undefined;
        if (control?.mgr !== mgr) control = { mgr, ctrl: managerControl(mgr) };
        return control.ctrl;
      },
      // /stream sends `event: state` when it differs from the last one sent.
      onStateChange: () => ctx.services.eventLog?.publishState(),
    }),
  );
  ctx.services.agent = agent;
  ctx.observe.addSubsystem('agent', () => agent.stats());
  ctx.observe.addBudget(
    'agent',
    // Prompts reach the agent through the chat API, which bounds them by --max-chat-message-bytes.
    agent.budgetBytes(ctx.options.maxChatMessageBytes),
    'max concurrent turns × (4 × context budget × 4 B/token + a history page of 100 events + 2 tool results + 64 KiB + queue depth × max chat message)',
  );
  // Turns end (recorded as cancelled) before the event log and the terminals go away.
  ctx.onShutdown(() => agent.shutdown());
  if (!agent.isConfigured()) ctx.log.info({ subsystem: 'agent' }, agent.configHelp());
}
