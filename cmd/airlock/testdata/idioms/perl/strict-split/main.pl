#!/usr/bin/perl
use strict;
use warnings;

chomp(my $n = <STDIN>);
my @nums = split ' ', <STDIN>;
my $sum = 0;
$sum += $_ for @nums[0 .. $n - 1];
print "$sum\n";
