lines = require('fs').readFileSync(0, 'utf8').trim().split '\n'
n = parseInt lines[0], 10
nums = (Number x for x in lines[1].split ' ')[...n]
console.log nums.reduce ((a, b) -> a + b), 0
