"OK " + (input | ltrimstr(" ") | rtrimstr(" "))
