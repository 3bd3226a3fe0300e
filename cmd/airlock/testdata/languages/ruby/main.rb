word = gets.strip
puts "OK #{word}"
