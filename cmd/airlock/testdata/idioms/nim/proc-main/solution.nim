import strutils

proc main() =
  let n = parseInt(readLine(stdin).strip())
  var total, count = 0
  for x in readLine(stdin).splitWhitespace():
    if count == n: break
    total += parseInt(x)
    inc count
  echo total

when isMainModule:
  main()
