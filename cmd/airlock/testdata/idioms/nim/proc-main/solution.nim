import strutils

proc main() =
  let n = parseInt(readLine(stdin).strip())
  var total = 0
  for i, x in readLine(stdin).splitWhitespace():
    if i >= n: break
    total += parseInt(x)
  echo total

when isMainModule:
  main()
