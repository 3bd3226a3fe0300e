def word = System.in.newReader().readLine().trim()
println "OK ${word}"
