# Every shared vector case (tests/vectors and $WORKERLIFE_VECTORS), each a
# test named by its file and case.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use Vectors;

my @cases = Vectors::cases();
cmp_ok(scalar @cases, '>=', 78, 'the shared vectors are there');
for my $c (@cases) {
    my ($name, $case) = @$c;
    my $err = Vectors::run_case($case);
    ok(!defined $err, $name) or diag("$name: $err");
}
done_testing;
