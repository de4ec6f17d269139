// Input beyond the arguments: JSON files named by an option, and passwords. A password is the
// first line of stdin when it is piped, or typed at a terminal prompt without echo (twice, to
// catch typos); never an argument, which other users see in the process list and shells keep.
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { hasUncleanText } from '../http/clean-text.ts';
import { UsageError } from './command.ts';

/** Reads and parses a JSON file named by an option; a missing or malformed file is a usage error. */
export async function readJsonFile(path: string, option: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--${option}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--${option}: ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (hasUncleanText(value)) throw new UsageError(`--${option}: ${path} must be Unicode text without NUL characters`);
  return value;
}

async function firstLine(input: NodeJS.ReadStream): Promise<string> {
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of lines) return line;
    return '';
  } finally {
    lines.close();
    input.destroy();
  }
}

/** Reads one line from a TTY in raw mode, echoing nothing. Ctrl-C and Ctrl-D abort. */
function promptHidden(prompt: string): Promise<string> {
  const { stdin, stderr } = process;
  // Raw mode before the prompt: keys typed ahead of it must not be echoed either.
  stdin.setRawMode(true);
  stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003' || char === '\u0004') return finish(new UsageError('aborted'));
        if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
        else value += char;
      }
    };
    stdin.resume();
    stdin.on('data', onData);
  });
}

export async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) return firstLine(process.stdin);
  const password = await promptHidden('Password: ');
  if (password && (await promptHidden('Repeat password: ')) !== password) {
    throw new UsageError('the passwords do not match');
  }
  return password;
}
