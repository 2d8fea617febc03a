#!/usr/bin/env node
// Keel runs its TypeScript sources directly (Node >= 22.18 strips types natively).
import '../src/cli.ts';
