input <- scan(file("stdin"), what = integer(), quiet = TRUE)
n <- input[1]
write(sum(input[2:(n + 1)]), stdout())
