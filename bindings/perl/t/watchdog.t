# The worker's own watchdog from Perl, with real processes and no master:
# a worker stuck in a system call is killed at request_timeout, a granted
# recycle sends the worker its graceful signal, and the workers of one
# server share a pool file that the last one removes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(time sleep);
use Test::More;
use WorkerLife;

my $dir = tempdir(CLEANUP => 1);

# Forks $body with its stderr in a file; returns the wait status, what it
# wrote and how long it ran.
sub run_child {
    my ($body) = @_;
    my $err = "$dir/stderr.$$." . int(rand 1e9);
    my $started = time;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', $err or POSIX::_exit(90);
        eval { $body->(); 1 } or POSIX::_exit(91);
        POSIX::_exit(0);
    }
    waitpid $pid, 0;
    my $status = $?;
    my $took = time - $started;
    open my $fh, '<', $err or die "$err: $!";
    local $/;
    my $text = <$fh> // '';
    return ($status, $text, $took);
}

subtest 'a worker stuck in a system call is killed at request_timeout' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'request_timeout=300ms', slots => 2, shared => 1);
    my ($status, $err, $took) = run_child(sub {
        my $w = $pool->claim($$);
        my $dog = $w->watchdog;
        $w->begin;
        select undef, undef, undef, 30;    # stuck outside Perl: only the watchdog can act
    });
    is($status & 127, 9, 'ended by SIGKILL') or diag $err;
    cmp_ok($took, '>=', 0.3, 'not before request_timeout');
    cmp_ok($took, '<', 20, 'well before the sleep ended');
    like($err, qr/workerlife: killed slot=\d pid=\d+ gen=\d+ reason=request_timeout \([0-9.]+s >= 0\.3s\)/, 'says why');
};

subtest 'a granted recycle sends the recycle signal once' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'max_requests=1', slots => 2, shared => 1);
    my ($status, $err) = run_child(sub {
        my $w = $pool->claim($$);
        my $dog = $w->watchdog(recycle_signal => 'TERM');
        $w->begin;
        $dog->wake if $w->end;
        sleep 30;
    });
    is($status & 127, 15, 'ended by SIGTERM') or diag $err;
    my @asked = $err =~ /workerlife: recycle_requested slot=\d pid=\d+ gen=\d+ reason=max_requests \(1 >= 1\)/g;
    is(scalar @asked, 1, 'once');
};

subtest 'options are checked' => sub {
    my $pool = WorkerLife::Pool->new(slots => 1);
    my $w = $pool->claim($$);
    eval { $w->watchdog(recycle_signal => 'KILL') };
    like($@, qr/recycle_signal 9/, 'SIGKILL is not a recycle signal');
    eval { $w->watchdog(recycle_signal => 'NOPE') };
    like($@, qr/unknown signal "NOPE"/, 'unknown name');
    eval { $w->watchdog(interval => 0) };
    like($@, qr/interval must be more than 0/, 'zero interval');
    eval { $w->watchdog(bogus => 1) };
    like($@, qr/unknown watchdog option "bogus"/, 'unknown option');
    my $dog = $w->watchdog(interval => 0.05);
    ok($dog->running, 'runs');
    $dog->stop;
    ok(!$dog->running, 'stopped');
    $dog->stop;
    $dog->wake;
};

subtest 'workers share one pool file; the last one out removes it' => sub {
    my $path = "$dir/shared.pool";
    my $pool = WorkerLife::Pool->open(path => $path, policy => 'max_requests=100', slots => 4);
    ok(-e $path, 'made');
    my ($status) = run_child(sub {
        my $mine = WorkerLife::Pool->open(path => $path, policy => 'max_requests=100', slots => 4);
        my $w = $mine->claim($$);
        $w->begin, $w->end for 1 .. 3;
    });
    is($status, 0, 'the other worker served');
    my ($slot) = grep { $_->{requests} == 3 } @{ $pool->stats->{per_slot} };
    ok($slot, 'its requests are in our pool');
    eval { WorkerLife::Pool->open(path => $path, policy => 'max_requests=5') };
    like($@, qr/in use with another policy/, 'another policy is refused while held');
    ok($pool->remove_if_last, 'we were the last: removed');
    ok(!-e $path, 'gone');
    open my $fh, '>', "$dir/foreign" or die;
    print $fh "not a pool";
    close $fh;
    chmod 0600, "$dir/foreign";
    eval { WorkerLife::Pool->open(path => "$dir/foreign") };
    like($@, qr/not a workerlife pool/, 'a foreign file is refused');
    is(-s "$dir/foreign", 10, 'and left as it was');
};

done_testing;
