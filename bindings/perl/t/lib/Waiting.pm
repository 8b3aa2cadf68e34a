package Waiting;

# Waiting in a test, the two ways there are (as bindings/python/tests/
# waiting.py): until something happens (eventually: polled, so the test
# goes on the moment it does), or through a span in which something must
# not happen (quiet_for: the span is the point). Nothing else in the tests
# sleeps to wait.

use strict;
use warnings;
use Exporter 'import';
use Test::More ();
use Time::HiRes ();

our @EXPORT_OK = qw(eventually quiet_for);

# eventually(sub { ... }, $timeout, $what, $interval = 0.02): calls the sub
# every $interval s until it returns something true, and returns that; after
# $timeout s without, says "not within $timeout s: $what" (diag) and
# returns undef, for the caller's ok() to fail. The sub may also act (send a
# request, reap a child), once a call.
sub eventually {
    my ($predicate, $timeout, $what, $interval) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    while (1) {
        my $got = $predicate->();
        return $got if $got;
        if (Time::HiRes::time() >= $deadline) {
            Test::More::diag("not within $timeout s: $what");
            return undef;
        }
        Time::HiRes::sleep($interval // 0.02);
    }
}

# quiet_for($seconds, $why, $holds = undef, $interval = 0.05): lets $seconds
# pass in which nothing must happen ($why says what not, and why this long).
# With $holds, a sub checked all through: false (and a diag) as soon as it
# returns false; true when the span passed.
sub quiet_for {
    my ($seconds, $why, $holds, $interval) = @_;
    my $deadline = Time::HiRes::time() + $seconds;
    while (1) {
        if ($holds && !$holds->()) {
            Test::More::diag("within $seconds s ($why): broken");
            return 0;
        }
        my $left = $deadline - Time::HiRes::time();
        return 1 if $left <= 0;
        my $nap = $holds ? ($interval // 0.05) : $left;
        Time::HiRes::sleep($nap < $left ? $nap : $left);
    }
}

1;
