#!/usr/bin/env perl
# Perl benchmarks: ratios against baselines measured in the same run; they
# assert nothing.
#  1. One begin+end through the XS module against a bare Perl sub call.
#  2. Starman hello-world requests/s with the middleware against without
#     (wrk; goal: <= 3 % lost).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../bindings/perl/lib";
use IO::Socket::INET;
use List::Util qw(min);
use POSIX ();
use Time::HiRes qw(time sleep);
use WorkerLife;

# BENCH_QUICK=1 (what CI runs): one round of each measurement and wrk runs
# of 2 s, each ratio still against its baseline measured in the same run;
# the full rounds are what docs/benchmarks.md quotes.
my $quick = ($ENV{BENCH_QUICK} // '') eq '1';
my $seconds = $quick ? 2 : 3;

sub best_ns {
    my ($code, $n) = @_;
    my @t;
    for (1 .. ($quick ? 1 : 7)) {
        my $t0 = time;
        $code->($n);
        push @t, (time - $t0) / $n * 1e9;
    }
    return min @t;
}

my $w = WorkerLife::Pool->new->claim;
sub bare { return }
my $n = 500_000;
my $loop = best_ns(sub { for (1 .. $_[0]) { } }, $n);
my $sub2 = best_ns(sub { for (1 .. $_[0]) { bare(); bare() } }, $n);
my $be = best_ns(sub { for (1 .. $_[0]) { $w->begin; $w->end } }, $n);
printf "Perl hot path (ns per iteration, loop overhead %.1f ns included)\n", $loop;
printf "  two bare Perl sub calls                 %8.1f ns\n", $sub2;
printf "  \$w->begin + \$w->end (XS)                %8.1f ns   = %.2fx two bare sub calls\n", $be, $be / $sub2;

# The middleware's own cost per request, in-process (no server, no
# network: steadier than requests/s on a shared 2-core machine).
{
    require Plack::Builder;
    my $inner = sub { [200, ['Content-Type' => 'text/plain', 'Content-Length' => 2], ['ok']] };
    my $with = Plack::Builder::builder(sub {
        Plack::Builder::enable('WorkerLife', policy => 'max_requests=100000000,max_rss=1GiB');
        $inner;
    });
    my %env = (REQUEST_METHOD => 'GET', PATH_INFO => '/', 'psgix.harakiri' => 1, 'psgi.errors' => \*STDERR);
    my $bare = best_ns(sub { for (1 .. $_[0]) { my %e = %env; $inner->(\%e) } }, 100_000);
    my $mw = best_ns(sub { for (1 .. $_[0]) { my %e = %env; $with->(\%e) } }, 100_000);
    printf "\nPlack::Middleware::WorkerLife in-process: %.2f us per request (app alone %.2f us): +%.2f us\n",
        $mw / 1e3, $bare / 1e3, ($mw - $bare) / 1e3;
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die $!;
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub starman_rps {
    my ($with, $port) = @_;
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        # The source packages first, then the built XS module (make perl).
        $ENV{PERL5LIB} = join ":", "$FindBin::Bin/../../bindings/perl/lib", grep { defined && length } $ENV{PERL5LIB};
        if ($with) { $ENV{WL_BENCH_POLICY} = 'max_requests=1000000,max_rss=1GiB' } else { delete $ENV{WL_BENCH_POLICY} }
        exec('starman', '--listen', "127.0.0.1:$port", '--workers', 2, '--preload-app', "$FindBin::Bin/hello.psgi")
            or POSIX::_exit(127);
    }
    for (1 .. 300) {
        last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        sleep 0.05;
    }
    my $out = `wrk -t1 -c8 -d${seconds}s http://127.0.0.1:$port/`;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    my ($rps) = $out =~ /^Requests\/sec:\s+([\d.]+)/m or die "wrk said: $out";
    return $rps;
}

if (!grep { -x "$_/wrk" } split /:/, $ENV{PATH}) {
    print "\nStarman requests/s: wrk is not installed (apt-get install wrk); skipped\n";
    exit 0;
}
my $rounds = $ENV{BENCH_ROUNDS} // ($quick ? 1 : 5);
my (@without, @with);
my $port = free_port();
for (1 .. $rounds) {    # alternating, so drift hits both alike
    push @without, starman_rps(0, $port);
    push @with, starman_rps(1, $port);
}
my $median = sub { my @s = sort { $a <=> $b } @_; return $s[$#s / 2] };
my ($a, $b) = ($median->(@without), $median->(@with));
printf "\nStarman hello world, 2 workers, --preload-app, wrk -c8 (median of %d alternating %d s runs)\n", $rounds, $seconds;
printf "  without the middleware                  %8.0f req/s  [%s]\n", $a, join(', ', map { sprintf '%.0f', $_ } @without);
printf "  with Plack::Middleware::WorkerLife      %8.0f req/s  [%s]\n", $b, join(', ', map { sprintf '%.0f', $_ } @with);
printf "  lost                                    %8.1f %%   (goal <= 3 %%)\n", 100 * ($a - $b) / $a;
