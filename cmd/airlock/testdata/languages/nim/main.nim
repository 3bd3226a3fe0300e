import std/strutils

let word = stdin.readLine().strip()
echo "OK ", word
