# The plain Perl pre-fork server (examples/perl/prefork_server.pl), started
# by the test: workers rotate at max_requests with no failed request, a hung
# request is killed at request_timeout by the master's tick, and stopping
# the server leaves no worker behind.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use Test::More;
use Waiting qw(eventually);
use Layout;

my $dir = tempdir(CLEANUP => 1);
my $example = Layout::example('prefork_server.pl');

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die $!;
    return $s->sockport;
}

sub start {
    my ($policy) = @_;
    my $port = free_port();
    my $log = "$dir/server.$port.log";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);    # its own group: the test ends every process of it
        open STDOUT, '>', $log or POSIX::_exit(90);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(91);
        $ENV{WORKERLIFE_POLICY} = $policy;
        exec $^X, "-I$FindBin::Bin/../lib", $example, $port, 2 or POSIX::_exit(92);
    }
    my $http = HTTP::Tiny->new(timeout => 10);
    eventually(sub { $http->get("http://127.0.0.1:$port/")->{status} == 200 }, 10, 'the server serving', 0.05);
    return { pid => $pid, port => $port, log => $log, http => $http };
}

sub get {
    my ($s, $path, $timeout) = @_;
    my $r = HTTP::Tiny->new(timeout => $timeout // 10)->get("http://127.0.0.1:$s->{port}" . ($path // '/'));
    return $r->{status} == 200 ? (split ' ', $r->{content})[0] : undef;
}

sub log_of { open my $fh, '<', $_[0]{log} or return ''; local $/; return <$fh> }

sub stop {
    my ($s) = @_;
    kill 'TERM', $s->{pid};
    eventually(sub { waitpid($s->{pid}, POSIX::WNOHANG()) != 0 }, 10, 'the server stopping', 0.05);
    kill 'KILL', -$s->{pid};    # whatever of its group is left (nothing, if it stopped well)
    waitpid $s->{pid}, 0;
}

subtest 'workers rotate at max_requests, no request fails' => sub {
    my $s = start('max_requests=10,max_concurrent_recycles=0');
    my (%per_pid, $failed);
    for (1 .. 100) {
        my $pid = get($s);
        if ($pid) { $per_pid{$pid}++ } else { $failed++ }
    }
    is($failed // 0, 0, 'no failed request');
    my ($most) = sort { $b <=> $a } values %per_pid;
    cmp_ok($most, '<=', 10, 'no worker over max_requests') or diag explain \%per_pid;
    cmp_ok(scalar keys %per_pid, '>=', 9, 'workers rotate');
    stop($s);
    like(log_of($s), qr/stopped/, 'the server stopped');
    ok(!kill(0, $_), "worker $_ is gone") for keys %per_pid;
    my @on = log_of($s) =~ /^workerlife on for Perl prefork example: policy max_requests=10,max_concurrent_recycles=0, 2 slots; the host has surge, master kills, numbered workers; refused here: heartbeat_timeout/mg;
    is(scalar @on, 1, 'one start-up line') or diag log_of($s);
    like(log_of($s), qr/^workerlife: recycle_requested slot=\d pid=\d+ gen=\d+ reason=max_requests \(10 >= 10\)/m,
        'events as the library\'s line');
};

subtest 'a rule the host cannot carry out stops the start' => sub {
    my $out = `WORKERLIFE_POLICY=heartbeat_timeout=2s $^X -I$FindBin::Bin/../lib $example 0 2 2>&1`;
    isnt($?, 0, 'non-zero exit');
    like($out, qr/heartbeat_timeout=2s: Perl prefork example sends no heartbeat/, 'naming the key and the host');
    unlike($out, qr/listening/, 'nothing listened');
};

subtest 'a hung request is killed at request_timeout by the master' => sub {
    my $s = start('request_timeout=1s');
    my $started = time;
    my $answer = get($s, '/hang', 30);
    my $took = time - $started;
    ok(!defined $answer, 'the hung request never answered');
    cmp_ok($took, '>', 0.9, 'not before request_timeout');
    cmp_ok($took, '<', 10, "killed at request_timeout ($took s)");
    like(log_of($s), qr/kill worker \d+ \(slot \d\): request_timeout/, 'the master says why');
    ok(get($s), 'the server goes on serving');
    stop($s);
};

done_testing;
