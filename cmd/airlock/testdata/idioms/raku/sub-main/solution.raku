sub MAIN() {
    my ($n, @xs) = $*IN.slurp.words;
    say @xs.head(+$n).sum;
}
