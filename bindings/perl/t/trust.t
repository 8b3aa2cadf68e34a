# The trust rules from Perl: bad input is a clear error that changes
# nothing, a worker cannot aim the master's signals, and ithreads do not
# free the handles other threads use.
use strict;
use warnings;
use threads;
use threads::shared;
use FindBin;
use lib "$FindBin::Bin/../lib";
use File::Temp qw(tempdir);
use POSIX ();
use Test::More;
use WorkerLife;

my $dir = tempdir(CLEANUP => 1);

# A process nobody reported to a pool; ended at the end of the test.
sub bystander {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) { sleep 60; POSIX::_exit(0) }
    return $pid;
}

subtest 'strings with a NUL byte are refused, not cut' => sub {
    eval { WorkerLife::Policy->parse("max_requests=10\0,max_rss=1GiB") };
    like($@, qr/policy spec contains a NUL byte: "max_requests=10\\0,max_rss=1GiB"/, 'spec');
    eval { WorkerLife::Policy->new(max_rss => "1GiB\0junk") };
    like($@, qr/value for max_rss contains a NUL byte/, 'value');
    eval { WorkerLife::Pool->create(path => "$dir/pool\0x", policy => '') };
    like($@, qr/path contains a NUL byte/, 'path at create');
    ok(!-e "$dir/pool", 'and no file was made under the cut name');
    eval { WorkerLife::Pool->attach("$dir/pool\0x") };
    like($@, qr/path contains a NUL byte/, 'path at attach');
};

subtest 'numbers that are not numbers are refused' => sub {
    my $pid = bystander();
    my $id  = WorkerLife::identity($pid);
    for my $bad ('abc', '', undef, '12abc', -1) {
        eval { WorkerLife::kill($pid, 'KILL', $bad) };
        like($@, qr/identity must be a whole number/, 'identity ' . ($bad // 'undef'));
    }
    eval { WorkerLife::kill($pid, 'KILL', 0) };
    like($@, qr/no identity/, 'identity 0: a bare pid never authorises a signal');
    ok(kill(0, $pid), 'the process got nothing');
    for my $bad ('inf', 'nan', 1e19, 'abc', -1) {
        eval { WorkerLife::wait_released(pid => $pid, timeout => $bad) };
        like($@, qr/timeout must be a number of seconds from 0 to 1e9/, "timeout $bad");
    }
    my $pool = WorkerLife::Pool->new(policy => 'max_rss=1GiB', slots => 1);
    my $w = $pool->claim($$);
    $w->report_health(rss => 100);
    for my $bad (1e30, 'abc', -5, '1.5') {
        eval { $w->report_health(rss => $bad) };
        like($@, qr/rss reading must be a whole number/, "rss $bad");
    }
    eval { $w->report_health(rsss => 5) };
    like($@, qr/unknown reading "rsss"/, 'an unknown reading');
    $w->report_health(rss => 2**31);
    is($pool->stats->{per_slot}[0]{rss}, 2**31, 'a good reading still lands');
    eval { WorkerLife::Pool->new(policy => '', manual_clock => 1)->advance('inf') };
    like($@, qr/advance must be a number of seconds/, 'advance inf');
    WorkerLife::kill($pid, 'KILL', $id);
    waitpid $pid, 0;
};

subtest 'numbers out of their C range are refused, never wrapped' => sub {
    my $pid = bystander();
    my $id  = WorkerLife::identity($pid);
    # 4294967311 is 2^32 + 15: cut to 32 bits it would be SIGTERM.
    for my $bad (4294967311, 65, -15, '15abc') {
        eval { WorkerLife::kill($pid, $bad, $id) };
        like($@, qr/signal .*\Q$bad\E/, "signal $bad is refused, naming it");
    }
    ok(kill(0, $pid), 'and the process got nothing');

    # Port 65536 + P would be port P in 16 bits; -1 and 'abc' would be no port.
    for my $bad (65536 + 8080, 70000, -1, 'abc', '80.5') {
        eval { WorkerLife::wait_released(port => $bad, timeout => 0) };
        like($@, qr/port must be a whole number from 0 to 65535, not "\Q$bad\E"/, "port $bad");
    }

    for my $bad ('abc', -1, 1.5, '1e3', 2**70) {
        eval { WorkerLife::Pool->new(policy => '', seed => $bad) };
        like($@, qr/seed must be a whole number/, "seed $bad");
    }

    my $pool = WorkerLife::Pool->new(policy => '', slots => 1);
    $pool->spawned(0, $pid);
    for my $bad ('abc', 2**40, 1.5, -2**31 - 1) {
        eval { $pool->exited($pid, $bad) };
        like($@, qr/wait status must be a whole number/, "status $bad");
    }
    is($pool->stats->{per_slot}[0]{pid}, $pid, 'the refused exits changed nothing');
    WorkerLife::kill($pid, 'KILL', $id);
    waitpid $pid, 0;
    is($pool->exited($pid, $?), 0, 'a real status is taken');
};

# A number whose text and value differ, counting its readings.
package Slippery {
    use overload '0+' => sub { $_[0]{reads}++; $_[0]{reads} == 1 ? $_[0]{first} : 1 },
                 '""' => sub { $_[0]{first} }, fallback => 1;
}

subtest 'an object with overloaded numbers is read once' => sub {
    my $pid = bystander();
    my $obj = bless { first => $pid, reads => 0 }, 'Slippery';
    is(WorkerLife::identity($obj), WorkerLife::identity($pid), 'its first reading is the pid used');
    is($obj->{reads}, 1, 'and it was read once');
    my $id = WorkerLife::identity($pid);
    $obj->{reads} = 0;
    WorkerLife::kill($obj, 'KILL', $id);
    waitpid $pid, 0;
    is($? & 127, 9, 'the kill reached the process its first reading named, not pid 1');
    eval { WorkerLife::identity([1]) };
    like($@, qr/pid must be a number, not ARRAY/, 'a plain reference is refused');
};

subtest 'a worker cannot aim the master at another process' => sub {
    my $victim = bystander();
    my $pool = WorkerLife::Pool->new(policy => 'request_timeout=1s', slots => 2, shared => 1, manual_clock => 1);
    my $child = fork // die;
    if ($child == 0) {
        my $w = $pool->claim($victim);
        $pool->recycle($w->slot);
        POSIX::_exit(0);
    }
    waitpid $child, 0;
    is($?, 0, 'the hostile worker ran');
    $pool->advance(2);
    my @signals = grep { $_->{action} ne 'spawn' } $pool->tick;
    is(scalar @signals, 0, 'nothing to signal');
    my @refused = grep { $_->{kind} eq 'refused' } $pool->events;
    is(scalar @refused, 1, 'one refusal');
    is($refused[0]{pid}, $victim, 'naming the pid it was aimed at');
    ok(kill(0, $victim), 'the victim lives');
    eval { $pool->adopt(1) };
    like($@, qr/not a child of this process/, 'adopt takes only our children');
    $pool->adopt($victim);    # a child of ours: now it is the master's
    my @now = grep { $_->{action} ne 'spawn' } $pool->tick;
    is(scalar(@now), 1, 'once adopted, its recycle is returned');
    kill 'KILL', $victim;
    waitpid $victim, 0;
};

subtest 'a thread ending does not free the handles of the others' => sub {
    my $path = "$dir/threads.pool";
    my $pool = WorkerLife::Pool->create(path => $path, policy => 'max_requests=100', slots => 2);
    my $w = $pool->claim($$);
    my $policy = WorkerLife::Policy->parse('max_requests=3');
    threads->create(sub { $w->begin; $w->end; return 1 })->join;
    threads->create(sub { return 1 })->join;
    ok(-e $path, 'the named pool file is still there');
    $w->begin;
    $w->end;
    is($w->requests, 2, 'the worker handle still works (and saw the thread\'s request)');
    is($policy->get('max_requests'), 3, 'and the policy');
    is($pool->slots, 2, 'and the pool');
};

subtest 'forks under a busy thread never hang' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'max_requests=2,sample_interval=1ms', slots => 4, shared => 1);
    $pool->spawned(0, $$);
    my $stop :shared = 0;
    my $busy = threads->create(sub {
        my $n = 0;
        until ($stop) {
            my $p = WorkerLife::Policy->parse('max_requests=5');
            $pool->tick;
            $pool->events;
            $pool->sample;
            $n++;
        }
        return $n;
    });
    my $failed = 0;
    for (1 .. 50) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            alarm 10;    # a hang ends the child with SIGALRM
            my $w = $pool->claim($$);
            $w->begin;
            $w->end;
            $pool->tick;
            $pool->events;
            $pool->reap_dead;
            WorkerLife::Policy->parse('max_requests=3');
            $w->exiting;
            POSIX::_exit(0);
        }
        waitpid $pid, 0;
        $failed++ if $?;
    }
    $stop = 1;
    ok($busy->join > 0, 'the thread was busy throughout');
    is($failed, 0, 'no child hung or failed');
};

subtest 'the middleware refuses a rule it cannot feed' => sub {
    require Plack::Middleware::WorkerLife;
    local *STDERR;
    open STDERR, '>', \my $said;
    my $mw = Plack::Middleware::WorkerLife->new(policy => 'heartbeat_timeout=5s');
    eval { $mw->prepare_app };
    like($@, qr/heartbeat_timeout=5s: Plack sends no heartbeat .*leave heartbeat_timeout off/, 'the library refuses it, naming the key and the host');
    is($WorkerLife::ERROR_CODE, WorkerLife::WL_NOT_FOR_HOST);
    my $surge = Plack::Middleware::WorkerLife->new(policy => 'max_requests=10,max_surge=1');
    eval { $surge->prepare_app };
    like($@, qr/max_surge=1: Plack cannot start a replacement .*use max_surge=0/);
};

done_testing;
