import std/[strutils, sequtils, math]

let n = stdin.readLine.strip.parseInt
let xs = stdin.readLine.splitWhitespace.map(parseInt)
echo sum(xs[0 ..< n])
