lines = STDIN.each_line.to_a
n = lines[0].to_i
total = 0_i64
lines[1].split.first(n).each { |x| total += x.to_i64 }
puts total
