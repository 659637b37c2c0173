/**
 * The `djgc` command as a user runs it: a child process (the sources, through tsx) started in a
 * project folder, with an environment free of the test machine's DataJoint and AWS settings.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CLI = join(fileURLToPath(new URL('../../', import.meta.url)), 'functions', 'cli.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without any DataJoint, djgc or AWS setting that would override the project's files; `env` added. */
export function userEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(DJ_|DJGC_|AWS_|XDG_STATE_HOME$)/.test(key)) clean[key] = value;
  }
  return { ...clean, ...env };
}

/** Run `djgc args…` in `cwd`; `env` is added to the cleaned environment (set XDG_STATE_HOME to keep run folders in a test's directory). */
export function runDjgc(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 90_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], { cwd, env: userEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
