# Crash loops under a real Starman and a real Starlet: every child exits 1
# as it starts, before serving (t/apps/app.psgi with WL_HOSTS_CRASH). The
# middleware in the master reports each child's start and crash to the pool:
# Starman stops with a non-zero exit naming the crash loop; Starlet goes on,
# waiting the loop's delay before each new child. Children that leave on
# the server's own account, however quickly, are no crashes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use File::Temp qw(tempdir);
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use TestServer;
use ServerTests;
use Waiting qw(eventually);

my $dir = tempdir(CLEANUP => 1);

# The lines of the crash file: one per child started.
sub starts {
    my ($file) = @_;
    open my $fh, '<', $file or return 0;
    my @lines = <$fh>;
    return scalar @lines;
}

# Waits up to `timeout` s for the server's master to exit, then for its
# process group to empty (its children stopped); its wait status, or undef.
# The group is killed in any case, so nothing is left behind.
sub exit_of {
    my ($s, $timeout) = @_;
    my $status;
    eventually(sub {
        return 0 unless waitpid($s->{pid}, POSIX::WNOHANG()) == $s->{pid};
        $status = $?;
        return 1;
    }, $timeout, 'the server exiting', 0.05) or return undef;
    my $pgrp = $s->{pid};
    $s->{pid} = 0;
    eventually(sub { !ServerTests::group_pids($pgrp) }, 5, 'its children exiting', 0.05);
    my @left = ServerTests::group_pids($pgrp);
    kill 'KILL', -$pgrp;
    is(scalar @left, 0, 'no process of the server is left') or diag "@left";
    return $status;
}

subtest 'starman --preload-app: a crash loop stops the server, non-zero, naming it' => sub {
    my $file = "$dir/starman.crashes";
    my $s = TestServer->spawn(server => 'starman', preload => 1, workers => 2,
        policy => 'max_requests=1000', crash => $file);
    my $status = exit_of($s, 20);
    $s->stop;
    ok(defined $status, 'the server stops') or return diag $s->log;
    is($status >> 8, 1, "exit status 1 (wait status $status)");
    my $log = $s->log;
    like($log, qr/^workerlife: crash_loop slot=\d+ pid=\d+ gen=\d+ uptime=\S+ requests=0 status=256 crash delay=1\.000s$/m,
        'the crash loop, as the library\'s line') or diag $log;
    like($log, qr/^workerlife: stopping Starman \(master \d+\): its children keep crashing as they start \(crash_loop/m,
        'why the server stops') or diag $log;
    like($log, qr/^workerlife: exited slot=\d+ pid=\d+ gen=\d+ uptime=\S+ requests=0 status=256 crash$/m,
        'each crash, as the library\'s line');
    my $n = starts($file);
    # The default rules: 5 quick crashes a slot are let go, the 6th is a loop.
    cmp_ok($n, '>=', 6, "children started ($n)");
    cmp_ok($n, '<=', 40, "not a fork loop ($n children, thousands without workerlife)");
    ok(!$s->fetch('/')->{success}, 'nothing serves');
};

subtest 'starlet: a crash loop backs off by the loop\'s delay' => sub {
    my $file = "$dir/starlet.crashes";
    my $s = TestServer->spawn(server => 'starlet', workers => 2, policy => 'max_requests=1000', crash => $file);
    # When each child started, as seen from here (every 50 ms).
    my (@at, $gap, $exited);
    eventually(sub {
        my $n = starts($file);
        push @at, (time) x ($n - @at) if $n > @at;
        if (waitpid($s->{pid}, POSIX::WNOHANG()) == $s->{pid}) { $exited = $?; $s->{pid} = 0; return 1 }
        # Starlet's own pause is 1 s: a wait of 3 s or more is the loop's
        # (1 s, 2 s, then 4 s, ...).
        my @gaps = map { $at[$_] - $at[ $_ - 1 ] } 1 .. $#at;
        ($gap) = sort { $b <=> $a } @gaps, (@at ? time - $at[-1] : 0);
        return $gap >= 3.5;
    }, 30, 'a wait of the loop\'s delay, or the server\'s exit', 0.05);
    my $log = $s->log;
    ok(!defined $exited, 'the server goes on') or diag $log;
    cmp_ok($gap // 0, '>=', 3.5, sprintf('a wait of the loop\'s delay between two children (%.1f s)', $gap // 0))
        or diag $log;
    like($log, qr/^workerlife: crash_loop slot=\d+ pid=\d+ gen=\d+ uptime=\S+ requests=0 status=256 crash delay=1\.000s$/m,
        'the crash loop, as the library\'s line') or diag $log;
    like($log, qr/^workerlife: crash_loop .* delay=4\.000s$/m, 'its delay doubles');
    like($log, qr/^workerlife: Starlet starts its next child in 4s \(crash loop\)$/m, 'the wait is said');
    my $n = starts($file);
    cmp_ok($n, '<=', 40, "children started: $n");
    ok(!$s->fetch('/')->{success}, 'nothing serves');
    $s->stop;
};

# Each server's own limit on a child's requests, at 2: children live far
# less than min_uptime and exit 0, dozens in a row. The master reports none
# of them (status 0 is the server's own exit), so no crash loop: every
# request served, the server runs on. (A child that frees such a slot
# later still logs it as the library sees it, an exit nobody asked for,
# without a status: as before.)
for my $case (['starman', ['--max-requests', 2], preload => 1], ['starlet', ['--max-reqs-per-child', 2]]) {
    my ($server, $args, %o) = @$case;
    subtest "$server: children leaving on the server's own account are no crash loop" => sub {
        my $s = TestServer->start(server => $server, workers => 2, policy => 'max_requests=1000',
            args => $args, %o);
        my (%pids, $failed);
        for (1 .. 60) {
            my ($pid) = $s->get('/');
            if ($pid) { $pids{$pid}++ } else { $failed++ }
        }
        is($failed // 0, 0, "$server: every request served");
        cmp_ok(scalar keys %pids, '>=', 20, "$server: children came and went (" . scalar(keys %pids) . ')');
        my $log = $s->log;
        unlike($log, qr/crash_loop|crash loop/, "$server: no crash loop") or diag $log;
        unlike($log, qr/^workerlife: exited .* status=/m, "$server: no exit reported by the master");
        ok(kill(0, $s->{pid}), "$server: the server runs on");
        $s->stop;
    };
}

done_testing;
