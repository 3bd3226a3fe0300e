import * as readline from 'readline';

function solve(lines: string[]): number {
  const n = Number(lines[0]);
  return lines[1]
    .split(' ')
    .slice(0, n)
    .map((x) => parseInt(x, 10))
    .reduce((acc, x) => acc + x, 0);
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
const input: string[] = [];
rl.on('line', (line: string) => input.push(line));
rl.on('close', () => console.log(solve(input)));
