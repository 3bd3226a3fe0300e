word <- readLines(file("stdin"), n = 1)
cat("OK", trimws(word), "\n", sep = c(" ", ""))
