n = gets.not_nil!.to_i
puts gets.not_nil!.split.map(&.to_i64).first(n).sum
