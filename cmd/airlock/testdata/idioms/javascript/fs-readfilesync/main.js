const input = require('fs').readFileSync(0, 'utf8').trim().split('\n');
const n = parseInt(input[0], 10);
const nums = input[1].split(' ').map(Number);
let sum = 0;
for (let i = 0; i < n; i++) {
  sum += nums[i];
}
console.log(sum);
