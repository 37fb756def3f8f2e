import type { Command } from 'commander';
/** Registers `sim`. (Being written.) */
export function registerSimCommand(_program: Command): void {}
