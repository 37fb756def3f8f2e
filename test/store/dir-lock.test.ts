/**
 * The store folder's lock against real processes: a restart right after
 * `kill -9` must not be refused while the killed hub is still a zombie.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { openStore } from '../../src/store/log-store.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { SMALL_CONFIG, tempStoreDir } from './store-fixtures.js';

/** Takes the lock of the folder in argv[2], says so with its pid, then idles until killed. */
const LOCK_HOLDER = `
const [, mod, dir] = process.argv;
import(mod).then((m) => m.lockDir(dir)).then(() => {
  process.stdout.write('locked ' + process.pid + '\\n');
  setInterval(() => {}, 60_000);
});
`;

async function processState(pid: number): Promise<string | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat === null ? null : (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null);
}

describe('store folder lock', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
  it('takes over the lock of a hub killed with -9 that is still a zombie (not reaped by its parent)', async (t) => {
    const tmp = await tempStoreDir();
    t.after(() => tmp.remove());
    const { mkdir } = await import('node:fs/promises');
    await mkdir(tmp.dir, { recursive: true });
    // The lock holder runs under a parent that never waits for its children (sh exec'd into sleep), so once
    // killed it stays a zombie, as a hub does under a supervisor that reaps late.
    const parent = spawn('sh', ['-c', '"$NODE" -e "$SCRIPT" "$MOD" "$DIR" & exec sleep 600'], {
      env: { ...process.env, NODE: process.execPath, SCRIPT: LOCK_HOLDER, MOD: pathToFileURL(join(REPO_ROOT, 'dist', 'src', 'store', 'dir-lock.js')).href, DIR: tmp.dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => {
      parent.kill('SIGKILL');
    });
    const holder = await new Promise<number>((resolve, reject) => {
      let out = '';
      parent.stdout?.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        const m = /locked (\d+)/.exec(out);
        if (m !== null) resolve(Number(m[1]));
      });
      parent.once('exit', () => reject(new Error(`the lock holder's parent exited: ${out}`)));
    });
    process.kill(holder, 'SIGKILL');
    for (let i = 0; i < 400 && (await processState(holder)) !== 'Z'; i += 1) await new Promise((r) => setTimeout(r, 25));
    assert.equal(await processState(holder), 'Z', 'the killed holder is a zombie');

    const store = await openStore(tmp.dir, SMALL_CONFIG);
    await store.close();
  });
});
