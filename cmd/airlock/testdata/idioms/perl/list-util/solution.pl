use strict;
use warnings;
use List::Util qw(sum);

my ($n, @rest) = map { split } <STDIN>;
print sum(@rest[0 .. $n - 1]), "\n";
