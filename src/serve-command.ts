import type { Command } from 'commander';
/** Registers `serve`. (Being written.) */
export function registerServeCommand(_program: Command): void {}
