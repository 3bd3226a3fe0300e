word = gets.not_nil!.strip
puts "OK #{word}"
