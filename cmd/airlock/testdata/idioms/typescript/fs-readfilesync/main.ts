import * as fs from 'fs';

const lines: string[] = fs.readFileSync(0, 'utf8').trim().split('\n');
const n: number = parseInt(lines[0], 10);
const nums: number[] = lines[1].split(' ').map(Number);
console.log(nums.slice(0, n).reduce((a, b) => a + b, 0));
