import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where run folders go unless --run-dir says otherwise: a per-user state folder, never the user's
 * project. DJGC_STATE_DIR, else $XDG_STATE_HOME/djgc, else ~/.local/state/djgc.
 */
export function defaultRunDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DJGC_STATE_DIR) return env.DJGC_STATE_DIR;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'djgc');
  return join(homedir(), '.local', 'state', 'djgc');
}
