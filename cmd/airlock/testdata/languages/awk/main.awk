NR == 1 { print "OK " $1 }
