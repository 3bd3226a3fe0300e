my $n = get.Int;
say [+] get.words.head($n);
