NR == 1 { n = $1; next }
NR == 2 {
    for (i = 1; i <= n; i++)
        sum += $i
    print sum
}
