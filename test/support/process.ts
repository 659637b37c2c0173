import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';

export interface RunOptions {
  /** File streamed to the program's standard input. */
  stdinFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Shown instead of the arguments in errors (they may hold a password). */
  describe: string;
  /** What to install when the program is missing. */
  installHint: string;
}

export class ProgramNotFoundError extends Error {
  override readonly name = 'ProgramNotFoundError';
}

/** Run a program to completion; reject with its standard error when it fails. */
export function runProgram(program: string, args: readonly string[], options: RunOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      env: options.env ?? process.env,
      stdio: [options.stdinFile ? 'pipe' : 'ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 20_000) stderr += chunk;
    });
    if (options.stdinFile) {
      const input = createReadStream(options.stdinFile);
      input.on('error', (error) => {
        child.kill();
        reject(new Error(`${options.describe}: cannot read ${options.stdinFile}: ${error.message}`));
      });
      child.stdin!.on('error', () => {
        // The program exited before reading all input; its exit status explains why.
      });
      input.pipe(child.stdin!);
    }
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new ProgramNotFoundError(`${options.describe}: \`${program}\` not found; ${options.installHint}`)
          : new Error(`${options.describe}: ${error.message}`),
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${options.describe} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}
