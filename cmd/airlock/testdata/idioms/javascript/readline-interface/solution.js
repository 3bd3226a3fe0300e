const readline = require('readline');

const rl = readline.createInterface({ input: process.stdin });
const lines = [];
rl.on('line', (line) => lines.push(line));
rl.on('close', () => {
  const n = Number(lines[0]);
  const total = lines[1].split(' ').slice(0, n).reduce((acc, x) => acc + Number(x), 0);
  console.log(total);
});
