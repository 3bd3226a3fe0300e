use strict;
use warnings;

my $word = <STDIN>;
chomp $word;
print "OK $word\n";
