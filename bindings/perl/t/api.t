# The Perl API and its errors, with real processes for fork, exec + attach
# and the toolkit.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use File::Temp qw(tempdir);
use POSIX ();
use Test::More;
use JSON::PP ();
use WorkerLife;
use Layout;

my $dir = tempdir(CLEANUP => 1);

subtest 'policy' => sub {
    my $p = WorkerLife::Policy->parse('max_requests=1000,max_rss=300MiB,request_timeout=30s');
    my $q = WorkerLife::Policy->new(max_requests => 1000, max_rss => '300MiB', request_timeout => 30);
    is("$p", "$q", 'parse and new agree');
    is($p->get('max_rss'), 300 * 2**20, 'sizes in bytes');
    is($p->get('request_timeout'), 30, 'durations in seconds');
    is(WorkerLife::Policy->parse("$p")->to_string, "$p", 'the string parses back');
    is(WorkerLife::Policy->new->to_string, '', 'the default policy is empty');
    is(WorkerLife::Policy->new(drain_timeout => undef)->get('drain_timeout'), 0, 'undef is off');
    my ($keys) = do { open my $fh, '<', Layout::header() or die $!; local $/; <$fh> } =~ /enum wl_key\n.*?\{(.*?)\};/s
        or die 'no wl_key';
    my %header = reverse $keys =~ /WL_KEY_(\w+) = (\d+)/g;
    is_deeply([ WorkerLife::Policy->keys ], [ map { lc $header{$_} } sort { $a <=> $b } keys %header ],
        'every key, in the header\'s order');
    is(WorkerLife::Policy->parse('container_memory=auto')->get('container_memory'), 'auto', 'a word comes back as text');
    is(WorkerLife::Policy->new->get('container_headroom'), '10%', 'the default headroom');
    is(WorkerLife::Policy->new(container_headroom => '64MiB')->get('container_headroom'), 64 * 2**20, 'a size in bytes');
    is(WorkerLife::Policy->parse('memory_sustain=30s')->get('memory_sustain'), 30, 'memory_sustain in seconds');
    is(WorkerLife::Policy->new->to_hash->{max_concurrent_recycles}, 1, 'defaults');
    is(WorkerLife::Policy->new->get('sample_interval'), 1, 'sample_interval default 1s');
};

subtest 'numbers stay numbers' => sub {
    is(WorkerLife::Policy->new(request_timeout => 1e-5)->get('request_timeout'), 1e-5, '1e-05 seconds');
    is(WorkerLife::Policy->new(max_rss => 512 * 2**20)->get('max_rss'), 512 * 2**20, 'bytes');
    for my $case ([max_rss => 1.5, qr/whole number/], [request_timeout => 'inf', qr/finite/],
                  [request_timeout => 4e-7, qr/rounds to 0/], [request_timeout => -1, qr/>= 0/]) {
        my ($key, $bad, $why) = @$case;
        eval { WorkerLife::Policy->new($key => $bad) };
        like($@, $why, "$key => $bad");
        like($@, qr/\Q$key\E/, 'naming the key');
    }
};

subtest 'policy errors name the key and value' => sub {
    eval { WorkerLife::Policy->parse('max_reqests=5') };
    like($@, qr/unknown policy key "max_reqests" \(with value "5"\) at \S+api\.t line/, 'unknown key, at the caller');
    eval { WorkerLife::Policy->new(max_rss => 'lots') };
    like($@, qr/invalid value "lots" for max_rss/, 'bad value');
    eval { WorkerLife::Policy->new(max_requests => -1) };
    like($@, qr/max_requests/, 'negative');
    eval { WorkerLife::Policy->new(max_fds => [3]) };
    like($@, qr/max_fds/, 'a reference');
    eval { WorkerLife::Policy->parse("max_requests=\xff") };
    like($@, qr/max_requests|UTF-8/, 'not UTF-8');
    eval { WorkerLife::Policy->new->get('nope') };
    like($@, qr/unknown policy key "nope"/, 'get of an unknown key');
};

subtest 'worker requests and decisions' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'max_requests=3', slots => 2);
    my $w = $pool->claim;
    is($w->slot, 0, 'first slot');
    ok(!$w->begin, 'first request: not the last'); ok(!$w->end, 'first request: stay');
    $w->begin; ok(!$w->end, 'second');
    ok(!$w->must_exit, 'still serving');
    ok($w->begin, 'the third is the last, known when it begins');
    ok($w->end, 'third: leave');
    my $d = $w->decision;
    is($d->action, 'recycle');
    is($d->reason, 'max_requests');
    is_deeply([$d->value, $d->limit], [3, 3]);
    is("$d", 'max_requests: 3 >= 3', 'readable');
    ok($d ? 1 : 0, 'a decision to leave is true');
    is($w->requests, 3);
    is($pool->stats->{requests_total}, 3, 'stats as a hash');
    like($pool->prometheus, qr/^workerlife_requests_total 3$/m, 'prometheus text');
};

# enforce is text (which rules act); a rule rehearsed gives a continue with
# its reason and figures (would), the master files it once per generation
# as would_recycle (info) or would_kill (warning), and the stats count it.
subtest 'a dress rehearsal decides and acts on nothing' => sub {
    is(WorkerLife::Policy->new->get('enforce'), 'all', 'enforce: all by default');
    is(WorkerLife::Policy->parse('enforce=off')->get('enforce'), 'off', 'off, as text');
    is(WorkerLife::Policy->parse('enforce=max_rss+max_requests')->get('enforce'), 'memory_rss+max_requests',
        'rules joined by +, by reason name');
    is(WorkerLife::Policy->new(enforce => 'request_timeout')->to_hash->{enforce}, 'request_timeout', 'in to_hash');
    for my $bad (3, 0, undef) {
        eval { WorkerLife::Policy->new(enforce => $bad) };
        like($@, qr/invalid value "\d+" for enforce: expected all, off, or rule names/,
            'a number is refused, naming the key (' . ($bad // 'undef') . ')');
    }
    ok((grep { ($_ // '') eq 'would_recycle' } @WorkerLife::EVENTS) && (grep { ($_ // '') eq 'would_kill' } @WorkerLife::EVENTS),
        'the new event kinds, from the library');
    my $pool = WorkerLife::Pool->new(policy => 'max_requests=3,request_timeout=1s,enforce=off', slots => 1, manual_clock => 1);
    $pool->spawned(0, $$);
    my $w = $pool->slot(0);
    for my $n (1 .. 3) {
        ok(!$w->begin, "request $n: not the last (nothing is enforced)");
        ok(!$w->end, "request $n: max_requests is rehearsed, the worker serves on");
    }
    my $d = $pool->decision(0);
    is_deeply([ $d->action, $d->reason, $d->value, $d->limit ], ['continue', 'max_requests', 3, 3], 'continue, with the reason and figures');
    ok($d->would, 'would');
    ok(!$d->must_exit && !$d, 'and it is not a decision to leave');
    is("$d", 'continue (would recycle: max_requests: 3 >= 3)', 'readable');
    is_deeply([ $pool->tick ], [], 'the master is told to do nothing');
    is_deeply([ map { [ $_->{kind}, $_->{severity} ] } $pool->events ],
        [ [ spawned => WorkerLife::WL_SEVERITY_INFO ], [ would_recycle => WorkerLife::WL_SEVERITY_INFO ] ], 'would_recycle, at info');
    $w->begin;
    $pool->advance(2);
    $d = $w->decision;
    ok($d->would && $d->reason eq 'request_timeout', "a rehearsed kill ($d)");
    is_deeply([ $w->overdue ], [], 'a rehearsed request_timeout cancels nothing');
    is_deeply([ $pool->tick ], [], 'nothing to do');
    my @ev = $pool->events;
    is_deeply([ map { [ @{$_}{qw(kind severity reason)} ] } @ev ],
        [ [ would_kill => WorkerLife::WL_SEVERITY_WARNING, 'request_timeout' ] ], 'would_kill, at warning');
    like($ev[0]{line} // '', qr/^would_kill slot=0 pid=$$ gen=1 reason=request_timeout \(2s >= 1s\) /, 'its line');
    $pool->tick;
    is_deeply([ $pool->events ], [], 'once per generation and reason');
    my $stats = $pool->stats;
    is($stats->{enforce}, 'off', 'stats: enforce');
    is_deeply([ @{ $stats->{would} }{qw(max_requests request_timeout)} ], [1, 1], 'stats: would, by reason');
    is_deeply([ sort @{ $stats->{per_slot}[0]{would} } ], [qw(max_requests request_timeout)], 'stats: the slot\'s would');
    like($pool->prometheus, qr/^workerlife_would_recycle_total\{reason="max_requests"\} 1$/m, 'prometheus: would_recycle');
    like($pool->prometheus, qr/^workerlife_would_kill_total\{reason="request_timeout"\} 1$/m, 'prometheus: would_kill');
    ok(!WorkerLife::Pool->new->claim->decision->would, 'a plain continue is no would');
    my $acting = WorkerLife::Pool->new(policy => 'max_requests=1')->claim;
    $acting->begin;
    $acting->end;
    ok(!$acting->decision->would && $acting->decision->must_exit, 'nor is a recycle that acts');
};

subtest 'timeouts in seconds, health, checks' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'request_timeout=30s', manual_clock => 1);
    my $w = $pool->claim;
    $w->begin;
    $pool->advance(31.5);
    my $d = $w->decision;
    is_deeply([$d->action, $d->reason, $d->value, $d->limit], ['kill', 'request_timeout', 31.5, 30]);
    is("$d", 'request_timeout: 31.5s >= 30s');
    my $m = WorkerLife::Pool->new(policy => 'max_rss=100MiB,max_health_failures=2')->claim;
    $m->report_health(rss => 99 * 2**20, fds => 10);
    ok(!$m->must_exit, 'under the limit');
    $m->check(0); $m->check(0);
    is($m->decision->reason, 'health_check', 'two failed checks');
    my $s = WorkerLife::Pool->new(policy => 'max_rss=10GiB')->claim;
    my $sample = $s->sample_self(1);
    ok($sample->{rss} > 2**20 && $sample->{fds} >= 3, 'sample_self reads this process');
    ok($sample->{uss} <= $sample->{pss} && $sample->{pss} <= $sample->{rss}, 'USS <= PSS <= RSS');
};

# max_rss=2x resolves against the parent's reading: none, and the rule
# waits; one given (report_parent), and a worker at twice its RSS is
# recycled, the limit in the decision and the stats; read_parent reads this
# process. A bad argument croaks, naming it, with nothing kept.
subtest 'a limit relative to the parent resolves against its reading' => sub {
    my $MiB = 2**20;
    my $pool = WorkerLife::Pool->new(policy => 'max_rss=2x', slots => 1, manual_clock => 1);
    $pool->spawned(0, $$);
    my $w = $pool->slot(0);
    $w->report_health(rss => 300 * $MiB);
    is($pool->decision(0)->action, 'continue', 'no reading of the parent: the rule waits');
    is_deeply($pool->stats->{memory_limits}{max_rss}, { setting => '2x', bytes => undef }, 'waiting in the stats');
    my $before = $pool->stats_json;
    for my $case ([ [-1, rss => 100 * $MiB], qr/\bpid must be a whole number/ ],
                  [ [2**32, rss => 100 * $MiB], qr/\bpid must be a whole number/ ],
                  [ [undef, rss => 100 * $MiB], qr/\bpid must be a whole number/ ],
                  [ [4021.5, rss => 100 * $MiB], qr/\bpid must be a whole number/ ],
                  [ [4021, rss => -1], qr/the parent's rss reading must be a whole number/ ],
                  [ [4021, rss => 2**64], qr/the parent's rss reading must be a whole number/ ],
                  [ [4021, uss => 0.5], qr/the parent's uss reading must be a whole number/ ],
                  [ [4021, pss => 'lots'], qr/the parent's pss reading must be a whole number/ ],
                  [ [4021, fds => 3], qr/unknown parent reading option "fds"/ ],
                  [ [4021, 'rss'], qr/name => value pairs/ ]) {
        my ($args, $why) = @$case;
        eval { $pool->report_parent(@$args) };
        like($@, $why, 'report_parent(' . join(', ', map { $_ // 'undef' } @$args) . ')');
    }
    is($pool->stats_json, $before, 'nothing was kept');
    $pool->report_parent(4021, rss => 100 * $MiB);
    my $st = $pool->stats;
    is($st->{memory_limits}{max_rss}{bytes}, 200 * $MiB, 'twice the reading');
    is_deeply([ @{ $st->{parent} }{qw(pid rss_bytes uss_bytes)} ], [4021, 100 * $MiB, undef], 'the reading in the stats');
    $w->report_health(rss => 200 * $MiB - 1);
    is($pool->decision(0)->action, 'continue', 'under twice the reading');
    $w->report_health(rss => 200 * $MiB);
    my $d = $pool->decision(0);
    is_deeply([ $d->action, $d->reason, $d->value, $d->limit ], ['recycle', 'memory_rss', 200 * $MiB, 200 * $MiB],
        'recycled at twice the reading');
    is_deeply([ map { [ @$_{qw(slot reason)} ] } $pool->tick ], [ [0, 'memory_rss'] ], 'the tick recycles it');
    my $read = $pool->read_parent;
    ok($read->{rss} > 0, 'read_parent reads this process') or diag explain $read;
    $st = $pool->stats;
    is_deeply([ @{ $st->{parent} }{qw(pid rss_bytes)} ], [$$, $read->{rss}], 'the parent is this process');
    is($st->{memory_limits}{max_rss}{bytes}, 2 * $read->{rss}, 'and the limit twice its RSS');
};

subtest 'tick, events, supervision' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'max_requests=1', slots => 2, manual_clock => 1);
    $pool->spawned(0, 100);
    $pool->spawned(1, 101);
    my $w = $pool->slot(0);
    $w->begin; $w->end;
    my @a = $pool->tick;
    is(scalar @a, 1, 'one action');
    is_deeply([ @{ $a[0] }{qw(action slot pid reason)} ], ['recycle', 0, 100, 'max_requests']);
    is_deeply([ $pool->tick ], [], 'each action once');
    is($pool->exited(100, 0), 0, 'exited gives the slot');
    is_deeply([ map { $_->{action} } $pool->tick ], ['spawn']);
    is_deeply([ map { [ $_->{kind}, $_->{slot} ] } $pool->events ],
        [ [spawned => 0], [spawned => 1], [recycle_requested => 0], [exited => 0] ], 'events in order');
    my $crashy = WorkerLife::Pool->new(policy => 'max_restarts=1,backoff_initial=2s,min_uptime=10s', manual_clock => 1);
    for my $pid (100, 101) { $crashy->spawned(0, $pid); $crashy->exited($pid, 256) }
    is($crashy->next_spawn_in, 2, 'crash-loop backoff');
    ok((grep { $_->{kind} eq 'crash_loop' && $_->{delay} == 2 } $crashy->events), 'crash_loop event');
    is($pool->slots, 2);
    is($pool->policy->to_string, 'max_requests=1');
};

subtest 'pool errors' => sub {
    eval { WorkerLife::Pool->new(slots => 0) };
    like($@, qr/invalid slot count 0/);
    eval { WorkerLife::Pool->new(slots => -1) };
    like($@, qr/slots must be a whole number/);
    eval { WorkerLife::Pool->new(policy => 'nope=1') };
    like($@, qr/unknown policy key "nope"/);
    eval { WorkerLife::Pool->new(policy => [1]) };
    like($@, qr/policy must be/);
    eval { WorkerLife::Pool->new(slotz => 2) };
    like($@, qr/unknown pool option "slotz"/);
    my $pool = WorkerLife::Pool->new(slots => 2);
    eval { $pool->slot(2) };
    like($@, qr/slot 2 is out of range/);
    eval { $pool->exited(4242) };
    like($@, qr/no slot holds pid 4242/);
    is($WorkerLife::ERROR_CODE, 303, 'the code is kept');
    eval { $pool->advance(1) };
    like($@, qr/manual clock/);
    my $full = WorkerLife::Pool->new(slots => 1);
    $full->claim($$);
    eval { $full->claim(getppid()) };
    like($@, qr/no free slot/);
    eval { WorkerLife::Pool->attach("$dir/missing") };
    like($@, qr/missing/);
    open my $fh, '>', "$dir/garbage" or die; print $fh 'x' x 5000; close $fh;
    eval { WorkerLife::Pool->attach("$dir/garbage") };
    like($@, qr/not a usable workerlife pool/);
    eval { $pool->claim('abc') };
    like($@, qr/pid must be a whole number/);
};

subtest 'objects free their handles' => sub {
    # Many pools and workers made and dropped: no handle leaks, no crash.
    my $before = WorkerLife::live_handles();
    for (1 .. 2000) {
        my $pool = WorkerLife::Pool->new(policy => 'max_requests=5');
        my $w = $pool->claim;
        $w->begin; $w->end;
        my $during = WorkerLife::live_handles();
        die "no handles counted while alive" unless $during == $before + 2;    # the pool and the worker
    }
    my $after = WorkerLife::live_handles();
    is($after, $before, '2000 pools and workers made and freed: no handle left');
    my $pool = WorkerLife::Pool->new;
    my $w = $pool->claim;
    undef $pool;
    $w->begin;
    ok(!$w->end, 'a worker outlives its pool object (it holds the memory)');
};

subtest 'fork: children share a pool' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'max_requests=5,max_concurrent_recycles=0', slots => 3, shared => 1);
    my @pids;
    for (1 .. 3) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $code = 1;
            eval {
                my $w = $pool->claim;
                my $n = 0;
                while (1) { $w->begin; $n++; last if $w->end }
                $code = 10 + $n;
            };
            POSIX::_exit($code);
        }
        push @pids, $pid;
    }
    for my $pid (@pids) {
        waitpid($pid, 0);
        is($? >> 8, 15, "child $pid served exactly max_requests");
    }
    is($pool->stats->{requests_total}, 15, 'the master sees every request');
    is_deeply([ sort { $a <=> $b } map { $_->{pid} } @{ $pool->stats->{per_slot} } ], [ sort { $a <=> $b } @pids ]);
};

subtest 'exec and attach a named pool' => sub {
    my $path = "$dir/pool";
    my $pool = WorkerLife::Pool->create(path => $path, policy => 'max_requests=4', slots => 2);
    ok(-e $path, 'the file exists');
    my $out = `$^X -I$FindBin::Bin/../lib -MWorkerLife -e 'my \$p = WorkerLife::Pool->attach(shift); my \$w = \$p->claim; for (1..4) { \$w->begin; \$w->end } print \$p->policy, "|", \$w->decision' $path`;
    is($out, 'max_requests=4|max_requests: 4 >= 4', 'the exec\'d process attached and served');
    is($pool->stats->{requests_total}, 4);
    eval { WorkerLife::Pool->create(path => $path) };
    like($@, qr/exists/i, 'an existing file is refused');
    undef $pool;
    ok(!-e $path, 'the creator removes the file');
};

subtest 'toolkit with a real process' => sub {
    pipe(my $r, my $wr) or die;
    my $pid = fork // die;
    if (!$pid) {
        close $wr;
        my $x = 'x' x (48 * 2**20);
        <$r>;
        POSIX::_exit(0);
    }
    close $r;
    select(undef, undef, undef, 0.3);
    my $s = WorkerLife::sample($pid);
    ok($s->{rss} >= 48 * 2**20, 'RSS of another process');
    my $id = WorkerLife::identity($pid);
    is($s->{start_time}, $id, 'identity is the start time');
    eval { WorkerLife::kill($pid, 'TERM', $id + 1) };
    like($@, qr/reused|start time/, 'a wrong identity is refused');
    ok(kill(0, $pid), 'and the process was not signalled');
    eval { WorkerLife::wait_released(pid => $pid, timeout => 0.1) };
    like($@, qr/still running/, 'wait_released times out');
    WorkerLife::kill($pid, 'SIGTERM', $id);
    waitpid($pid, 0);
    is($? & 127, 15, 'the right identity is signalled');
    eval { WorkerLife::sample($pid) };
    like($@, qr/no such process/);
    eval { WorkerLife::kill($pid, 'NOPE', 0) };
    like($@, qr/unknown signal "NOPE"/);
    eval { WorkerLife::kill(0, 'TERM', 0) };
    like($@, qr/pid must be a whole number/, 'pid 0 is never signalled');
};

subtest 'the tables are the library\'s, number for number' => sub {
    open my $fh, '<', Layout::header() or die $!;
    my $header = do { local $/; <$fh> };
    my %tables = (
        wl_action => ['WL_ACTION_', \@WorkerLife::ACTIONS],
        wl_reason => ['WL_REASON_', \@WorkerLife::REASONS],
        wl_pool_action_kind => ['WL_DO_', \@WorkerLife::POOL_ACTIONS],
        wl_event_kind => ['WL_EVENT_', \@WorkerLife::EVENTS],
        wl_sharing => ['WL_SHARING_', \@WorkerLife::SHARING],
    );
    for my $enum (sort keys %tables) {
        my ($prefix, $names) = @{ $tables{$enum} };
        my ($body) = $header =~ /enum \Q$enum\E\n.*?\{(.*?)\};/s or die "no $enum";
        my @pairs = $body =~ /(\w+) = (\d+)/g;
        my %header;
        while (my ($name, $n) = splice @pairs, 0, 2) { $header{$n} = lc($name =~ s/^\Q$prefix\E//r) }
        delete $header{0} if $enum eq 'wl_reason';    # WL_REASON_NONE: no reason
        my %perl = map { defined $names->[$_] ? ($_ => $names->[$_]) : () } 0 .. $#$names;
        is_deeply(\%perl, \%header, "$enum: every number and name");
    }
};

subtest 'sample says which slots it found gone' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'max_rss=1GiB', slots => 2, shared => 1);
    my $pid = fork // die;
    if ($pid == 0) { $pool->claim($$); POSIX::_exit(0) }
    waitpid $pid, 0;
    my $r = $pool->sample;
    is_deeply($r->{gone}, [0], 'the exited child\'s slot');
    is($r->{sampled}, 0, 'nobody else to read');
    is_deeply($pool->sample->{gone}, [], 'once');
};

subtest 'one version' => sub {
    open my $fh, '<', Layout::cargo_toml() or die $!;
    my ($cargo) = do { local $/; <$fh> } =~ /\[workspace\.package\]\nversion = "([^"]+)"/;
    is($WorkerLife::VERSION, $cargo, 'the module says the workspace version');
    is(WorkerLife::library_version(), $cargo, 'and so does the library');
    require Plack::Middleware::WorkerLife;
    is($Plack::Middleware::WorkerLife::VERSION, $cargo, 'and the middleware');
};

if (Layout::in_dist()) {
    subtest 'the library is linked into the XS module' => sub {
        my $inc = "-I$FindBin::Bin/../lib";
        like(`$^X $inc -MWorkerLife -e 'print \$WorkerLife::LIBRARY'`, qr{/WorkerLife\.so\z},
            'the library\'s code is in WorkerLife.so: nothing to find at run time');
    };
} else {
    subtest 'the XS module is linked with the repository build' => sub {
        my $inc = "-I$FindBin::Bin/../lib";
        like(`$^X $inc -MWorkerLife -e 'print \$WorkerLife::LIBRARY'`, qr{target/c/libworkerlife\.so\.\d+\.\d+\z},
            'the library file the module is linked with');
        ok(!$INC{'FFI/Platypus.pm'}, 'no FFI::Platypus');
    };

    # Linked with the library's shared object, the module binds its calls
    # when it loads: a library put first (LD_PRELOAD) that says another ABI
    # is refused as the module boots. (The distribution's module carries
    # its library inside, bound at link time: nothing can stand in there.)
    subtest 'loading against a library of another ABI dies, naming both' => sub {
        require Config;
        open my $fh, '>', "$dir/other_abi.c" or die $!;
        print $fh "unsigned wl_abi_version(void) { return 99; }\nconst char *wl_version(void) { return \"9.8.7\"; }\n";
        close $fh;
        my $so = "$dir/libother_abi.so";
        system("$Config::Config{cc} -shared -fPIC -o $so $dir/other_abi.c") == 0 or die "cc failed";
        my $out = `LD_PRELOAD=$so $^X -I$FindBin::Bin/../lib -MWorkerLife -e 'print "loaded\n"' 2>&1`;
        isnt($?, 0, 'perl -MWorkerLife fails');
        like($out, qr{^workerlife: the library \Q$so\E \(workerlife 9\.8\.7\) has ABI version 99, but this WorkerLife module was built for ABI version \Q${\ WorkerLife::ABI_VERSION}\E \(workerlife \Q$WorkerLife::VERSION\E\)},
            'the library, its version and ABI, and the module\'s') or diag $out;
        unlike($out, qr/loaded/, 'before any code runs');
    };
}

subtest 'a library of another ABI is refused, naming both versions' => sub {
    my $header = do { open my $fh, '<', Layout::header() or die $!; local $/; <$fh> };
    my ($abi) = $header =~ /#define WL_ABI_VERSION (\d+)/ or die 'no WL_ABI_VERSION';
    my ($version) = $header =~ /#define WL_VERSION_STRING "([^"]+)"/ or die 'no WL_VERSION_STRING';
    is(WorkerLife::ABI_VERSION, $abi, 'the module was built for the header\'s ABI');
    is(WorkerLife::library_abi_version(), $abi, 'and the library it runs with has it');
    ok(eval { WorkerLife::check_abi($abi, $version, '/x/libworkerlife.so'); 1 }, 'the same ABI is taken') or diag $@;
    my $other = $abi + 1;
    eval { WorkerLife::check_abi($other, '9.8.7', '/x/libworkerlife.so.9.8') };
    is($@ =~ s/ at \S+ line \d+\.\n\z//r,
        "workerlife: the library /x/libworkerlife.so.9.8 (workerlife 9.8.7) has ABI version $other, but this WorkerLife"
        . " module was built for ABI version $abi (workerlife $version): rebuild WorkerLife against that library,"
        . ' or install the library it was built with',
        'the message names the library, its version and ABI, and the module\'s');
};

subtest 'a failing vector names its case' => sub {
    my $vdir = "$dir/vectors";
    mkdir $vdir;
    open my $fh, '>', "$vdir/wrong.json" or die;
    print $fh '[{"name": "deliberately wrong", "policy": "max_requests=2", "steps": [{"op": "request"}, {"op": "expect", "action": "recycle"}]}]';
    close $fh;
    local $ENV{WORKERLIFE_VECTORS} = $vdir;
    my $out = `$^X $FindBin::Bin/vectors.t 2>&1`;
    isnt($? >> 8, 0, 'the run fails');
    like($out, qr/not ok \d+ - wrong\.json: deliberately wrong/, 'naming the case');
    like($out, qr/step 1 .*expected recycle/, 'and the step');
};

subtest 'a ready event says how long the replacement took' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'max_requests=1,max_surge=1', slots => 3, manual_clock => 1);
    $pool->spawned(0, 1_000_001);
    my $w = $pool->slot(0);
    $w->begin;
    $w->end;
    my ($spawn) = grep { $_->{action} eq 'spawn' } $pool->tick;
    ok($spawn && defined $spawn->{replaces}, 'a replacement is started') or return;
    $pool->spawned($spawn->{slot}, 1_000_002);
    $pool->advance(0.25);
    $pool->ready($spawn->{slot});
    $pool->tick;
    my ($ready) = grep { $_->{kind} eq 'ready' } $pool->events;
    ok($ready, 'a ready event') or return;
    is($ready->{delay}, 0.25, 'with its delay (it was dropped for every kind but crash_loop)');
};

subtest 'stats can leave the vacant slots out' => sub {
    my $pool = WorkerLife::Pool->new(policy => '', slots => 1000);
    $pool->claim($$);
    my $all = $pool->stats;
    my $occupied = $pool->stats(vacant => 0);
    is(scalar @{ $all->{per_slot} }, 1000, 'every slot by default');
    is_deeply([map { $_->{pid} } @{ $occupied->{per_slot} }], [$$], 'only the occupied one with vacant => 0');
    is($occupied->{workers}{vacant}, 999, 'the vacant ones counted');
    eval { $pool->stats(vacnat => 0) };
    like($@, qr/unknown stats option "vacnat"/);
};

subtest 'objects are checked, and forged ones get nowhere' => sub {
    my $pool = WorkerLife::Pool->new(slots => 1);
    my $w = $pool->claim;
    eval { WorkerLife::Pool::slots($w) };
    like($@, qr/expected a WorkerLife::Pool object, not WorkerLife::Worker=/, 'a worker is no pool');
    eval { WorkerLife::Worker::begin('WorkerLife::Worker') };
    like($@, qr/expected a WorkerLife::Worker object, not WorkerLife::Worker at \S+api\.t line/, 'a class name is no object');
    eval { $$pool = 1 };
    like($@, qr/read-only/, 'the handle inside an object cannot be changed');
    my $forged = bless \(my $x = 12345), 'WorkerLife::Pool';
    eval { $forged->slots };
    like($@, qr/workerlife: .*handle/i, 'a forged handle is refused by the library');
    is($WorkerLife::ERROR_CODE, WorkerLife::WL_INVALID_HANDLE, 'as WL_INVALID_HANDLE');
    $w->DESTROY;
    eval { $w->begin };
    like($@, qr/workerlife: /, 'a freed object croaks');
    is($WorkerLife::ERROR_CODE, WorkerLife::WL_NULL_ARGUMENT, 'as a NULL argument');
    $w->DESTROY;    # twice: nothing is freed twice
    package My::Pool { our @ISA = ('WorkerLife::Pool') }
    my $sub = bless \(my $y = 0), 'My::Pool';
    eval { $sub->slots };
    like($@, qr/workerlife: /, 'a subclass is accepted as its class (then refused for its handle)');
    unlike($@, qr/expected a/, 'not for its class');
};

subtest 'the host contract: set_host, check_host, host_slots, the start-up line' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'heartbeat_timeout=2s,max_requests=5', slots => 4);
    eval { $pool->set_host('Starman', 'watchdog_kills') };
    like($@, qr/^workerlife: heartbeat_timeout=2s: Starman sends no heartbeat .*request_timeout/, 'refused, naming the key, the host and what to do');
    like($@, qr/ at \S+api\.t line \d+/, 'at the caller');
    is($WorkerLife::ERROR_CODE, WorkerLife::WL_NOT_FOR_HOST, 'as WL_NOT_FOR_HOST (202, the policy family)');
    is(WorkerLife::WL_NOT_FOR_HOST, 202);
    like($pool->startup_line, qr/^workerlife on for this host:/, 'a refusal records nothing');
    $pool->set_host('Gunicorn test', 'heartbeat', 'master_kills');
    like($pool->startup_line, qr/^workerlife on for Gunicorn test: policy heartbeat_timeout=2s,max_requests=5, 4 slots; the host has heartbeats, master kills; refused here: max_surge/,
        'the start-up line: host, policy, slots, capabilities, what is refused');

    my $surge = WorkerLife::Policy->parse('max_surge=1');
    eval { $surge->check_host('Starlet', 'watchdog_kills') };
    like($@, qr/^workerlife: max_surge=1: Starlet cannot start a replacement.*max_surge=0/, 'check_host before any pool');
    ok(eval { $surge->check_host('Node cluster', 'surge', 'master_kills'); 1 }, 'a host with surge carries it');
    eval { WorkerLife::Policy->parse('request_timeout=1s')->check_host('Bare') };
    like($@, qr/request_timeout=1s: Bare has no master and no watchdog/, 'kills need someone to carry them out');

    for my $case ([['nope'], qr/unknown host capability "nope"/], [[undef], qr/a host capability must be a string/],
                  [["watchdog_kills\0"], qr/contains a NUL byte/]) {
        eval { $pool->set_host('X', @{ $case->[0] }) };
        like($@, $case->[1], 'a bad capability name');
    }
    for my $name ('', 'x' x 65, "a\nb") {
        eval { $pool->set_host($name, 'master_kills') };
        like($@, qr/host name/, 'a bad host name');
        is($WorkerLife::ERROR_CODE, WorkerLife::WL_INVALID_ARGUMENT);
    }
    like($pool->startup_line, qr/for Gunicorn test/, 'nothing changed by the bad calls');

    is(WorkerLife::host_slots(4, 'max_surge=1', 'numbered', 'master_kills'), 5, 'numbered: workers + max_surge');
    is(WorkerLife::host_slots(4, 'max_surge=1'), 17, 'claimed by pid: 2 * workers + max_surge + 8');
    is(WorkerLife::host_slots(2, undef, 'watchdog_kills'), 12, 'the default policy');
    is(WorkerLife::host_slots(3, $surge), 15, 'a policy object');
    for my $bad (0, -1, 1.5, 'x', 2**32) {
        eval { WorkerLife::host_slots($bad, undef) };
        like($@, qr/workers must be a whole number from 1 to 4294967295/, "workers $bad refused");
    }
    eval { WorkerLife::host_slots(2, 'max_reqests=1') };
    like($@, qr/unknown policy key "max_reqests"/, 'a bad policy');
    eval { WorkerLife::host_slots(2, undef, 'numbred') };
    like($@, qr/unknown host capability "numbred"/, 'a bad capability');
};

subtest 'round errors: each once, then counted' => sub {
    my $pool = WorkerLife::Pool->new(slots => 1);
    my @logged;
    for (1 .. 100) {
        my $line = $pool->round_error('spawn failed: EAGAIN');
        push @logged, $line if defined $line;
    }
    is_deeply(\@logged, ['spawn failed: EAGAIN', 'spawn failed: EAGAIN (seen 10 times)', 'spawn failed: EAGAIN (seen 100 times)'],
        'once, then at 10 and 100');
    is($pool->round_error('another'), 'another', 'another error is logged once too');
    eval { $pool->round_error(undef) };
    like($@, qr/the error text must be a string/);
    eval { $pool->round_error("a\0b") };
    like($@, qr/the error text contains a NUL byte/);
};

subtest 'adopt_all: the server\'s list of pids' => sub {
    my $pool = WorkerLife::Pool->new(slots => 4);
    my @kids;
    for (1 .. 3) {
        my $pid = fork // die "fork: $!";
        if (!$pid) { sleep 30; POSIX::_exit(0) }
        push @kids, $pid;
    }
    is($pool->adopt_all([@kids[0, 1]]), 2, 'both adopted');
    is($pool->adopt_all([@kids[0, 1]]), 0, 'known ones skipped');
    eval { $pool->adopt_all([@kids, 1]) };
    like($@, qr/pid 1 is not a child of this process/, 'a stranger refused, naming it');
    is($WorkerLife::ERROR_CODE, WorkerLife::WL_NOT_A_CHILD);
    is($pool->adopt_all(\@kids), 0, 'the others were adopted all the same');
    for my $bad (['x'], [0], [2**32], 'not a list', {}) {
        eval { $pool->adopt_all($bad) };
        like($@, qr/pid must be a whole number|array reference/, 'bad input refused');
    }
    kill 'KILL', @kids;
    waitpid($_, 0) for @kids;
};

subtest 'stats text in one call' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'max_requests=10', slots => 3);
    my $w = $pool->claim;
    $w->begin; $w->end;
    like($pool->prometheus, qr/^workerlife_requests_total 1$/m, 'Prometheus text');
    is(JSON::PP::decode_json($pool->stats_json)->{requests_total}, 1, 'JSON');
    is(scalar @{ $pool->stats(vacant => 0)->{per_slot} }, 1, 'the occupied slots only');
};

subtest 'events carry the library\'s line and severity' => sub {
    my $pool = WorkerLife::Pool->new(policy => 'max_requests=2,max_restarts=1,backoff_initial=2s,min_uptime=10s',
        slots => 2, manual_clock => 1);
    $pool->spawned(0, 100);
    my $w = $pool->slot(0);
    $pool->advance(1.5);
    for (1 .. 2) { $w->begin; $w->end }
    $pool->tick;
    $pool->exited(100, 0);
    $pool->spawned(0, 101);
    $pool->exited(101, 9);    # SIGKILL from nobody of ours: a crash
    $pool->spawned(0, 102);
    $pool->exited(102, 256);
    my %by = map { ($_->{kind} . ($_->{pid} // '') => $_) } $pool->events;
    my $recycle = $by{recycle_requested100} or return fail('no recycle event');
    like($recycle->{line}, qr/^recycle_requested slot=0 pid=100 gen=\d+ reason=max_requests \(2 >= 2\) uptime=1\.500s requests=2/,
        'the line: the reason once, with value and limit');
    is($recycle->{severity}, WorkerLife::WL_SEVERITY_INFO, 'a recycle is info');
    is_deeply([ @{$recycle}{qw(value limit)} ], [2, 2], 'value and limit');
    ok(exists $recycle->{growth_requests} && exists $recycle->{growth_seconds}, 'the growth span');
    my $crash = $by{exited101} or return fail('no crash');
    is($crash->{severity}, WorkerLife::WL_SEVERITY_WARNING, 'a crash is a warning');
    like($crash->{line}, qr/^exited slot=0 pid=101 /, 'its line');
    ok(!defined $crash->{value}, 'nothing tripped: no value');
    my ($loop) = grep { $_->{kind} eq 'crash_loop' } values %by;
    ok($loop, 'a crash loop') or return;
    is($loop->{severity}, WorkerLife::WL_SEVERITY_ERROR, 'a crash loop is an error');
    ok(WorkerLife::WL_SEVERITY_INFO < WorkerLife::WL_SEVERITY_WARNING && WorkerLife::WL_SEVERITY_WARNING < WorkerLife::WL_SEVERITY_ERROR,
        'severities, from the header');
};

subtest 'a fraction is refused even where a float\'s text hides it' => sub {
    # 562949953421312.5 prints as "562949953421312" (15 digits).
    my $w = WorkerLife::Pool->new(policy => 'max_rss=1GiB')->claim;
    eval { $w->report_health(rss => 2**49 + 0.5) };
    like($@, qr/the rss reading must be a whole number .*not 562949953421312\.5 at/, 'a reading');
    eval { WorkerLife::Pool->new(seed => 2**49 + 0.5) };
    like($@, qr/seed must be a whole number/, 'a seed');
    ok(eval { $w->report_health(rss => 2**49 + 0.0); 1 }, 'a whole float is taken') or diag $@;
};

subtest 'the result codes are the header\'s, as constants' => sub {
    open my $fh, '<', Layout::header() or die $!;
    my $header = do { local $/; <$fh> };
    my ($body) = $header =~ /enum wl_result\n.*?\{(.*?)\};/s or die 'no wl_result';
    my %codes = $body =~ /(WL_\w+) = (\d+)/g;
    ok(keys %codes > 20, 'the header lists them');
    for my $name (sort keys %codes) {
        my $const = WorkerLife->can($name);
        ok($const && $const->() == $codes{$name}, "WorkerLife::$name is $codes{$name}");
    }
};

done_testing;
