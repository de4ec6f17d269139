// A server under test as a child process: its stdout/stderr kept (last lines) for diagnosis,
// readiness detected from its log, its process tree read from /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { childrenOf } from './proc.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Polls a URL until it answers 200 (then leaves a few seconds for every worker to start). */
async function poll(url: URL, exited: Promise<unknown>): Promise<void> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (!gone) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  /** The primary and its workers (or the one process). */
  pids(): number[];
  /** The processes that serve requests (the workers, or the one process). */
  workers(): number[];
  /** The last lines it wrote, for error messages. */
  tail(): string;
  stop(): Promise<void>;
}

export async function startProcess(options: {
  name: string;
  args: string[];
  env: Record<string, string>;
  /** A line of its output that means it is ready, or a URL that answers 200 once it is. */
  ready: RegExp | URL;
  timeoutMs?: number;
}): Promise<ServerProcess> {
  const child = spawn(process.execPath, options.args, {
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: new URL('../..', import.meta.url).pathname,
  });
  const lines: string[] = [];
  let partial = '';
  let readyResolve: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => {
    readyResolve = resolve;
  });
  const onData = (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (options.ready instanceof RegExp && options.ready.test(line)) readyResolve();
      // Request logs are the bulk; keep only what explains a failure.
      if (!line.includes('"msg":"request"')) {
        lines.push(line);
        if (lines.length > 40) lines.shift();
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  if (options.ready instanceof URL) void poll(options.ready, exited).then(readyResolve);
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), options.timeoutMs ?? 60_000).unref());
  const outcome = await Promise.race([readyPromise.then(() => 'ready' as const), exited.then(() => 'exited' as const), timeout]);
  const tail = () => lines.join('\n');
  if (outcome !== 'ready') {
    child.kill('SIGKILL');
    throw new Error(`${options.name} did not start (${outcome}):\n${tail()}`);
  }
  const pid = child.pid as number;
  return {
    child,
    pid,
    pids: () => [pid, ...childrenOf(pid)],
    workers: () => {
      const children = childrenOf(pid);
      return children.length ? children : [pid];
    },
    tail,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
