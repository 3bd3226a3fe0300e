my $word = $*IN.get.trim;
say "OK $word";
