package ServerTests;

# The checks both servers must pass (t/starman.t, t/starlet.t).

use strict;
use warnings;
use Test::More;
use TestServer;
use Waiting qw(eventually);
use POSIX ();
use Time::HiRes qw(sleep);
use HTTP::Tiny;
use File::Temp ();
use FindBin;

sub rotate {
    my ($server, %o) = @_;
    # Without a budget no child waits for a permit (a waiting child keeps
    # serving, by design), so the limit is exact.
    my $s = TestServer->start(server => $server, workers => 2,
        policy => 'max_requests=20,max_concurrent_recycles=0', %o);
    my (%per_pid, $failed);
    for (1 .. 300) {
        my ($pid) = $s->get($o{path} // '/');
        if ($pid) { $per_pid{$pid}++ } else { $failed++ }
    }
    my ($most) = sort { $b <=> $a } values %per_pid;
    is($failed // 0, 0, "$server: no failed request");
    cmp_ok($most, '<=', $o{slack} ? 20 + $o{slack} : 20, "$server: no child over max_requests")
        or diag explain \%per_pid;
    cmp_ok(scalar keys %per_pid, '>=', 300 / 20 - 1, "$server: children rotate");
    # A shared pool (preloaded): the recycle is logged as the library's line
    # by the child that frees the slot (the last ones may not be yet);
    # else the leaving child says why.
    # One reading of the log for every count below: a line logged between
    # two readings would make them disagree.
    my $log = $s->log;
    my @leaving = $o{preload}
        ? $log =~ /^workerlife: recycle_requested slot=\d+ pid=\d+ gen=\d+ reason=max_requests \(20 >= 20\) uptime=\S+ requests=20/mg
        : $log =~ /leaving after this request: max_requests: 20 >= 20/g;
    cmp_ok(scalar @leaving, '>=', 300 / 20 - 3, "$server: each says why") or diag $log;
    my $name = ucfirst $server;
    my @on = $log =~ /^workerlife on for (\w+): policy max_requests=20,max_concurrent_recycles=0, \d+ slots; the host has watchdog kills; refused here: heartbeat_timeout/mg;
    if ($o{preload}) {
        is_deeply(\@on, [$name], "$server: one start-up line for the server's start, naming it") or diag $log;
    } else {
        # Each child builds the app, and says so as it starts.
        ok(@on >= 2 && !grep({ $_ ne $name } @on), "$server: each child names the server") or diag $log;
    }
    my @lines = $log =~ /^(workerlife: (?:spawned|recycle_requested|exited|worker \d+ leaving)) /mg;
    is(scalar @lines, scalar @leaving, "$server: a recycle is said once") or diag $log;
    $s->stop;
}

sub leak {
    my ($server, %o) = @_;
    my $limit = 64 * 2**20;
    my $s = TestServer->start(server => $server, workers => 2,
        # No budget: a child waiting for a permit would leak on meanwhile
        # (the budget has its own test).
        policy => 'max_rss=64MiB,sample_interval=1ms,max_concurrent_recycles=0', %o);
    my (@rss, %pids, $failed);
    for (1 .. 250) {
        my ($pid, $rss) = $s->get('/leak');
        if ($pid) { push @rss, $rss; $pids{$pid}++ } else { $failed++ }
    }
    my ($peak) = sort { $b <=> $a } @rss;
    is($failed // 0, 0, "$server: no failed request while leaking");
    cmp_ok($peak, '<', $limit + 4 * 2**20, "$server: RSS held under max_rss (peak $peak)");
    cmp_ok(scalar keys %pids, '>=', 4, "$server: leaking children were recycled");
    my @why = $s->log =~ /^workerlife: recycle_requested .* reason=(\w+) /mg;
    ok(@why && !grep({ $_ ne 'memory_rss' } @why), "$server: for memory_rss") or diag $s->log;
    $s->stop;
}

sub budget {
    my ($server, %o) = @_;
    # Shared pool (preloaded): one child drains at a time, across children.
    my $s = TestServer->start(server => $server, workers => 4,
        policy => 'max_requests=15,max_requests_jitter=10,max_concurrent_recycles=1', %o);
    my @kids;
    for my $k (1 .. 4) {
        my $pid = fork // die;
        if (!$pid) {
            my $fails = 0;
            for (1 .. 150) { my ($p) = $s->get('/'); $fails++ unless $p }
            POSIX::_exit($fails > 255 ? 255 : $fails);
        }
        push @kids, $pid;
    }
    my ($most, $polls, $failed) = (0, 0, 0);
    my %running = map { ($_ => 1) } @kids;
    while (%running) {
        my $r = $s->fetch('/_workerlife');
        if ($r->{success} && $r->{content} =~ /^workerlife_recycle_permits (\d+)/m) {
            $most = $1 if $1 > $most;
            $polls++;
        }
        for my $kid (keys %running) {
            next unless waitpid($kid, POSIX::WNOHANG()) == $kid;
            $failed += $? >> 8;
            delete $running{$kid};
        }
        sleep 0.01;
    }
    is($failed, 0, "$server: no failed request under concurrent load");
    cmp_ok($polls, '>', 10, "$server: the shared pool's stats were read during the load");
    cmp_ok($most, '<=', 1, "$server: never more than one permit held (one draining at a time)");
    my $stats = $s->fetch('/_workerlife')->{content};
    my ($recycles) = $stats =~ /^workerlife_recycles_total\{reason="max_requests"\} (\d+)/m;
    cmp_ok($recycles // 0, '>=', 4, "$server: children recycled meanwhile") or diag $stats;
    $s->stop;
}

# A dress rehearsal (enforce=off): max_requests=5 trips in each child that
# serves 5, and no child is recycled: the same children serve throughout.
# No kill rule is set, so the line proves the watchdog runs for rehearsed
# recycles too; it is said once per child (no master of ours files it).
sub rehearsal {
    my ($server, %o) = @_;
    my $s = TestServer->start(server => $server, workers => 2, policy => 'max_requests=5,enforce=off', %o);
    my $children = sub { [ sort { $a <=> $b } grep { $_ != $s->{pid} } group_pids($s->{pid}) ] };
    my $started = eventually(sub { my $c = $children->(); @$c == 2 && $c }, 10, 'two children');
    ok($started, "$server: two children") or return $s->stop;
    my @before = @$started;
    my (%served, $failed);
    for (1 .. 30) {
        my ($pid) = $s->get('/');
        if ($pid) { $served{$pid}++ } else { $failed++ }
    }
    is($failed // 0, 0, "$server: no failed request");
    my %known = map { ($_ => 1) } @before;
    is_deeply([ grep { !$known{$_} } sort keys %served ], [], "$server: served by the children there from the start")
        or diag explain \%served;
    my @tripped = sort grep { $served{$_} >= 5 } keys %served;
    ok(@tripped, "$server: a child served 5 or more") or diag explain \%served;
    my $would = sub {
        my ($pid) = @_;
        my @lines = $s->log =~ /^workerlife: would_recycle slot=\d+ pid=$pid gen=\d+ reason=max_requests \(\d+ >= 5\) /mg;
        return scalar @lines;
    };
    ok(eventually(sub { !grep { !$would->($_) } @tripped }, 10, "a would_recycle for each of @tripped"),
        "$server: each child past max_requests says what would be done") or diag $s->log;
    is($would->($_), 1, "$server: child $_: once") or diag $s->log for @tripped;
    is_deeply($children->(), \@before, "$server: the same children serve on");
    unlike($s->log, qr/^workerlife: (?:recycle_requested|killed|exited|worker \d+ leaving)/m, "$server: nothing recycled")
        or diag $s->log;
    $s->stop;
}

# The processes of process group $pgrp.
sub group_pids {
    my ($pgrp) = @_;
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        my ($pid, $rest) = $line =~ /^(\d+) \(.*\) (.*)$/ or next;
        my (undef, undef, $group) = split ' ', $rest;
        push @pids, $pid if $group == $pgrp;
    }
    return @pids;
}

sub hang {
    my ($server, %o) = @_;
    my $s = TestServer->start(server => $server, workers => 2, policy => 'request_timeout=2s', %o);
    my @group = group_pids($s->{pid});
    is(scalar @group, 3, "$server: the master and its 2 children, nothing more (watchdogs are threads)")
        or diag "@group";
    # The app writes its pid here as the hang begins (?mark=).
    my $mark = File::Temp::tempdir(CLEANUP => 1) . '/hang';
    my $started = Time::HiRes::time();
    my $hung = fork // die "fork: $!";
    if ($hung == 0) {
        my $r = HTTP::Tiny->new(timeout => 60)->get($s->url("/hang?mark=$mark"));
        POSIX::_exit($r->{status} == 200 ? 1 : 0);    # the connection drops when it is killed
    }
    ok(eventually(sub { -e $mark }, 10, 'a child took /hang'), "$server: a child took the hung request");
    # Requests to the other child until the hung one comes back.
    my (%pids, $served, $status);
    eventually(sub {
        my ($pid) = $s->get('/');
        $pids{$pid}++ if $pid;
        $served++;
        return 0 unless waitpid($hung, POSIX::WNOHANG()) == $hung;
        $status = $?;
        return 1;
    }, 30, 'the hung request ended', 0);
    my $took = Time::HiRes::time() - $started;
    is($status, 0, "$server: the hung request never answered");
    cmp_ok($took, '>', 1.9, "$server: not before request_timeout");
    cmp_ok($took, '<', 15, "$server: killed at request_timeout ($took s)");
    cmp_ok($served, '>=', 10, "$server: the other child served meanwhile");
    my ($killed) = $s->log =~ /workerlife: killed slot=\d+ pid=(\d+) gen=\d+ reason=request_timeout \([0-9.]+s >= 2s\)/;
    ok($killed, "$server: the watchdog says why") or diag $s->log;
    ok($killed && !$pids{$killed}, "$server: it was not the child that served");
    my ($after) = $s->get('/');
    ok($after && $after != ($killed // 0), "$server: a new child serves");
    # Stopped the server's way (SIGTERM to its master): nothing is left.
    kill 'TERM', $s->{pid};
    eventually(sub { waitpid($s->{pid}, POSIX::WNOHANG()) != 0 }, 15, "${server}: the master exiting", 0.05);
    eventually(sub { !group_pids($s->{pid}) }, 15, "${server}: its children exiting", 0.05);
    is(scalar(group_pids($s->{pid})), 0, "$server: no process left after the server stops");
    $s->stop;
}

# The pool published as a file (`pool => PATH`) and as JSON at the stats
# path, both read by `workerlife top --once`: every child, its requests and
# its growth (each /leak keeps 1 MiB).
sub top {
    my ($server, %o) = @_;
    my $repo = "$FindBin::Bin/../../..";
    my $bin = "$repo/target/release/workerlife";
    system('cargo', 'build', '--release', '-q', '-p', 'workerlife-cli', '--manifest-path', "$repo/Cargo.toml") == 0
        or die "cannot build workerlife" unless -x $bin;
    my $path = File::Temp::tempdir(CLEANUP => 1) . '/pool';
    my $s = TestServer->start(server => $server, workers => 2, pool => $path,
        policy => 'max_rss=4GiB,sample_interval=1ms', %o);
    my %pids;
    for (1 .. 60) { my ($pid) = $s->get('/leak'); $pids{$pid}++ if $pid }
    for my $source ($path, $s->url('/_workerlife.json')) {
        my $table = `$bin top --once '$source' 2>&1`;
        is($?, 0, "$server: top reads $source") or diag $table;
        my @rows = grep { /^\d+\s+\d+\s+running/ } split /\n/, $table;
        my %shown = map { (split ' ')[1] => $_ } @rows;
        # The GROW/REQ cell, by where its head stands (columns are padded).
        my ($head) = grep { /^SLOT\s/ } split /\n/, $table;
        my ($from, $to) = (index($head // '', 'GROW/REQ'), index($head // '', 'GROW/S'));
        for my $pid (sort keys %pids) {
            my $row = $shown{$pid};
            ok($row, "$server: child $pid listed") or diag $table;
            next unless $row && $pids{$pid} >= 5;
            my $cell = substr($row, $from, $to - $from) =~ s/\s+\z//r;
            my $bytes = bytes_of($cell);
            # An estimate: each /leak keeps 1 MiB, and the fit is within 10 %.
            ok(defined $bytes && abs($bytes - 2**20) <= 0.1 * 2**20,
                "$server: child $pid grows about 1 MiB per request ($cell)") or diag $table;
        }
    }
    $s->stop;
}

# "1011.7 KiB" in bytes; undef for anything else.
sub bytes_of {
    my ($text) = @_;
    my %unit = (B => 1, KiB => 2**10, MiB => 2**20, GiB => 2**30);
    my ($n, $u) = $text =~ /\A(-?[0-9.]+) ?(B|KiB|MiB|GiB)\z/ or return undef;
    return $n * $unit{$u};
}

# A child SIGKILLed from outside: a crash, logged as the library's line by
# the child that frees its slot; the server starts another.
sub crash {
    my ($server, %o) = @_;
    my $s = TestServer->start(server => $server, workers => 2, policy => 'max_requests=1000', %o);
    my ($victim) = $s->get('/');
    ok($victim, "$server: a child answered") or return;
    kill 'KILL', $victim;
    # Requests meanwhile: the child that frees the slot logs the line.
    my $line = eventually(sub {
        $s->get('/');
        return ($s->log =~ /^(workerlife: exited slot=\d+ pid=$victim .*)$/m)[0];
    }, 15, "the exit of $victim logged", 0);
    ok($line, "$server: the crash is logged") or diag $s->log;
    like($line // '', qr/crash|signal 9|SIGKILL|killed/i, "$server: as a crash ($line)");
    my ($after) = $s->get('/');
    ok($after && $after != $victim, "$server: another child serves");
    $s->stop;
}

# A bad setting stops the server's start, naming the setting: a rule this
# host cannot carry out, and a new user's first typo.
sub bad_setting {
    my ($server, %o) = @_;
    my $name = ucfirst $server;
    for my $case (['heartbeat_timeout=2s', qr/workerlife: heartbeat_timeout=2s: \Q$name\E sends no heartbeat/],
                  ['max_request=5', qr/workerlife: unknown policy key "max_request" \(with value "5"\)/]) {
        my ($policy, $named) = @$case;
        my $s = TestServer->spawn(server => $server, workers => 2, policy => $policy, %o);
        my $status = $s->wait_exit(20);
        ok(defined $status, "$server: $policy: the server stops") or next;
        like($s->log, $named, "$server: $policy: named") or diag $s->log;
        ok(!$s->fetch('/')->{success}, "$server: $policy: nothing serves");
        unlike($s->log, qr/^workerlife on/m, "$server: $policy: workerlife is not said to be on");
        if ($o{preload}) {
            isnt($status, 0, "$server: $policy: the start fails (exit status $status)");
        } else {
            # Each child builds the app: the first to fail stops the server
            # (Net::Server's master exits 0 whatever stops it).
            like($s->log, qr/workerlife: stopping the server \(master \d+\): every child would fail the same way/,
                "$server: $policy: a failing child stops its server");
            my @failed = $s->log =~ /^workerlife: stopping the server/mg;
            cmp_ok(scalar @failed, '<=', 4, "$server: $policy: no fork loop (" . scalar(@failed) . " children failed)");
        }
    }
}

sub run {
    my ($server) = @_;
    subtest "$server: a bad setting stops the start" => sub { bad_setting($server, preload => 1) };
    subtest "$server: workerlife top shows the published pool" => sub { top($server) };
    subtest "$server: a hung request is killed at request_timeout, with no master of ours" => sub {
        hang($server, preload => 1);
    };
    subtest "$server: a child SIGKILLed from outside is a crash" => sub { crash($server, preload => 1) };
    subtest "$server: max_requests rotates children" => sub { rotate($server, preload => 1) };
    subtest "$server: streamed responses count, and the last is known when it begins" => sub {
        rotate($server, preload => 1, path => '/stream');
    };
    subtest "$server: a leaking app is held under max_rss" => sub { leak($server, preload => 1) };
    subtest "$server: the budget holds across children" => sub { budget($server, preload => 1) };
    subtest "$server: a dress rehearsal logs would_recycle and recycles no child" => sub {
        rehearsal($server, preload => 1);
    };
    if ($server eq 'starman') {
        subtest 'starman without --preload-app: each child keeps its own pool' => sub {
            rotate($server, preload => 0);
        };
        subtest 'starman without --preload-app: a dress rehearsal, each child with its own pool' => sub {
            rehearsal($server, preload => 0);
        };
        subtest 'starman without --preload-app: a bad setting stops the server, no fork loop' => sub {
            bad_setting($server, preload => 0);
        };
    }
}

1;
