def solve(input)
  n, *xs = input.split.map(&:to_i)
  xs.take(n).sum
end

puts solve($stdin.read) if __FILE__ == $PROGRAM_NAME
