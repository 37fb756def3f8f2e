import type { Command } from 'commander';
/** Registers `token create`. (Being written.) */
export function registerTokenCommands(_program: Command): void {}
