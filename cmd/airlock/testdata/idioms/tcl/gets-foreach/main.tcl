gets stdin n
gets stdin line
set sum 0
foreach x [lrange $line 0 [expr {$n - 1}]] {
    incr sum $x
}
puts $sum
