gets stdin word
puts "OK [string trim $word]"
