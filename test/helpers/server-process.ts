import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface ServerProcess {
  url: string;
  stdout: string;
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `offerpilot serve` in its own process on a free port and waits until it listens. */
export async function startServerProcess(args: string[], env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--port', '0', '--log-level', 'warn', ...args], {
    // Every reply the suite sees is checked against its route's declared schema.
    env: { ...process.env, OFFERPILOT_VALIDATE_REPLIES: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s:\n${stdout}\n${stderr}`)), 30_000);
    child.stdout!.on('data', (b: Buffer) => {
      stdout += b.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(stdout);
      if (m && stdout.includes('\n', m.index)) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stdout}\n${stderr}`));
    });
  });
  // Give the rest of the banner a moment to arrive.
  await new Promise((r) => setTimeout(r, 50));
  const proc: ServerProcess = {
    url,
    get stdout() {
      return stdout;
    },
    child,
    stop: (signal = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
  return proc;
}
