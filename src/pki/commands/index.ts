import type { Command } from 'commander';
/** Registers `ca` and `device` commands. (Being written.) */
export function registerPkiCommands(_program: Command): void {}
