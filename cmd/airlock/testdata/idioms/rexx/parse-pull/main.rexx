/* REXX: sum of the numbers on the second line */
parse pull n
parse pull line
sum = 0
do i = 1 to n
  sum = sum + word(line, i)
end
say sum
