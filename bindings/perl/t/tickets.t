# Per-request tickets (begin_ticket, end_ticket, overdue): each request in
# flight timed on its own, and every bad ticket refused without changing
# anything.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../lib";
use Test::More;
use WorkerLife;
use Vectors;
use Layout;

# The worker of a one-slot pool on a manual clock, with its pool (kept
# alive beside it).
sub worker {
    my ($policy) = @_;
    my $pool = WorkerLife::Pool->new(policy => $policy, manual_clock => 1);
    return ($pool, $pool->claim);
}

subtest 'the constants are the header\'s' => sub {
    open my $fh, '<', Layout::header() or die $!;
    my $header = do { local $/; <$fh> };
    my ($last) = $header =~ /#define WL_TICKET_LAST (\d+)/ or die 'no WL_TICKET_LAST';
    my ($cells) = $header =~ /#define WL_TICKETS (\d+)/ or die 'no WL_TICKETS';
    is(WorkerLife::TICKET_LAST, $last, 'TICKET_LAST');
    is(WorkerLife::TICKET_LAST, 1 << 52, 'bit 52');
    is(WorkerLife::TICKETS, $cells, 'TICKETS');
    is(WorkerLife::WL_BAD_TICKET, 307, 'WL_BAD_TICKET');
    is(WorkerLife::WL_TOO_MANY_IN_FLIGHT, 308, 'WL_TOO_MANY_IN_FLIGHT');
};

subtest 'begin_ticket, end_ticket' => sub {
    my ($pool, $w) = worker('max_requests=3');
    my @t = map { $w->begin_ticket } 1 .. 2;
    isnt($t[0], $t[1], 'each request its own ticket');
    ok(!grep({ $_ >= 1 << 53 } @t), 'below 2^53');
    ok(!grep({ $_ & WorkerLife::TICKET_LAST } @t), 'neither is the last');
    is($w->requests, 0, 'nothing counted before a request ends');
    ok(!$w->end_ticket($t[1]), 'ended out of order: stay');
    is($w->requests, 1, 'counted when it ends');
    ok(!$w->end_ticket("$t[0]"), 'a ticket as a string');
    my $last = $w->begin_ticket;
    ok($last & WorkerLife::TICKET_LAST, 'the one reaching max_requests says it is the last');
    ok($last < 1 << 53, 'below 2^53 with that bit');
    ok($w->end_ticket($last & ~WorkerLife::TICKET_LAST), 'the LAST bit is not needed to end it; leave');
    is($w->requests, 3);
    is($w->decision->reason, 'max_requests');
};

subtest 'overdue' => sub {
    my ($pool, $w) = worker('request_timeout=5s');
    my $first = $w->begin_ticket;
    $pool->advance(3);
    my $second = $w->begin_ticket;
    is_deeply([ $w->overdue ], [], 'none before request_timeout');
    is(scalar($w->overdue), 0, 'a count in scalar context');
    $pool->advance(2);
    is_deeply([ $w->overdue ], [$first], 'the one past request_timeout');
    $pool->advance(3);
    is_deeply([ sort { $a <=> $b } $w->overdue ], [ sort { $a <=> $b } $first, $second ], 'both');
    is(scalar($w->overdue), 2, 'counted');
    ok(!$w->end_ticket($first), 'an overdue request ended by its host');
    is_deeply([ $w->overdue ], [$second], 'no longer overdue');
    $w->end_ticket($second);
    is_deeply([ $w->overdue ], [], 'none in flight');

    my ($off_pool, $off) = worker('max_requests=10');
    my $t = $off->begin_ticket;
    $off_pool->advance(1000);
    is_deeply([ $off->overdue ], [], 'none without request_timeout');
    $off->end_ticket($t);

    my ($many_pool, $many) = worker('request_timeout=1s');
    my @t = map { $many->begin_ticket } 1 .. WorkerLife::TICKETS + 1;
    $many_pool->advance(2);
    is(scalar(my @due = $many->overdue), WorkerLife::TICKETS, 'at most TICKETS: a request past them is not timed');
    $many->end_ticket($_) for @t;
    is($many->requests, WorkerLife::TICKETS + 1, 'every one counted once');
};

subtest 'bad tickets croak and change nothing' => sub {
    my ($pool, $w) = worker('max_requests=100,request_timeout=5s');
    my $t = $w->begin_ticket;
    my $done = $w->begin_ticket;
    $w->end_ticket($done);
    my $state = sub { [ $w->requests, $w->decision->action, scalar($w->overdue) ] };
    my $before = $state->();
    for my $case (
        [ undef, 'undef' ], [ 'abc', 'a word' ], [ '', 'an empty string' ], [ -1, 'a negative number' ],
        [ "-$t", 'a negative ticket' ], [ 9**9**9 / 9**9**9, 'NaN' ], [ 9**9**9, 'inf' ], [ 2**64, '2^64 as a number' ],
        [ '18446744073709551616', '2^64 as a string' ], [ '99999999999999999999', '20 digits' ],
        [ $t + 0.5, 'a fraction' ], [ " $t", 'a leading space' ], [ "$t\0", 'an embedded NUL' ], [ "\0$t", 'a leading NUL' ],
        [ [$t], 'a reference' ],
    ) {
        my ($bad, $what) = @$case;
        local $WorkerLife::ERROR_CODE = 0;
        ok(!eval { $w->end_ticket($bad); 1 }, "$what: refused");
        like($@, qr/^workerlife: ticket must be a (whole )?number/, "$what: naming the argument");
        like($@, qr/ at \S+tickets\.t line \d+/, "$what: at the caller");
    }
    like(eval { $w->end_ticket("$t\0"); 1 } // $@, qr/not "\d+\\0"/, 'a NUL is shown, not passed on');
    # Below 10^15 its text ("%.15g") would read as the ticket itself. The
    # ticket is random: below 10^14 the text keeps the fraction and is
    # shown quoted, as any refused text is.
    like(eval { $w->end_ticket($t + 0.5); 1 } // $@, qr/not (\d+\.5|"\d+\.5"|"[\d.]+e\+15") at/, 'a fraction is refused, not dropped');
    for my $case ([ $done, 'ended already' ], [ 0, 'never issued (0)' ], [ 1, 'never issued (1)' ],
                  [ WorkerLife::TICKET_LAST - 1, 'never issued (the largest)' ], [ 1 << 60, 'past 2^53' ]) {
        my ($bad, $what) = @$case;
        ok(!eval { $w->end_ticket($bad); 1 }, "$what: refused");
        like($@, qr/^workerlife: ticket \d+ is not a request in flight in this worker/, "$what: the library's message");
        is($WorkerLife::ERROR_CODE, WorkerLife::WL_BAD_TICKET, "$what: WL_BAD_TICKET");
    }
    is_deeply($state->(), $before, 'no refused call changed the request count, the decision or what is in flight');
    $pool->advance(5);
    is_deeply([ $w->overdue ], [$t], 'the ticket in flight is still timed');
    is($w->decision->reason, 'request_timeout', 'and still kills');
    ok(!$w->end_ticket($t), 'and ends');
    is($w->requests, 2, 'counted once');

    my $two = WorkerLife::Pool->new(policy => 'request_timeout=5s', slots => 2);
    $two->spawned(0, $$);
    $two->spawned(1, getppid());
    my ($w0, $w1) = ($two->slot(0), $two->slot(1));
    my $mine = $w0->begin_ticket;
    ok(!eval { $w1->end_ticket($mine); 1 }, 'another worker\'s ticket is refused');
    is($WorkerLife::ERROR_CODE, WorkerLife::WL_BAD_TICKET);
    is($w1->requests, 0, 'nothing counted there');
    ok(!$w0->end_ticket($mine), 'it ends where it was issued');
    is($w0->requests, 1);
};

subtest 'too many in flight' => sub {
    my ($pool, $w) = worker('max_requests=0');
    my @t;
    # TICKETS timed, then 65,535 counted but not timed.
    push @t, $w->begin_ticket for 1 .. WorkerLife::TICKETS + 65535;
    ok(!eval { $w->begin_ticket; 1 }, 'one more is refused');
    like($@, qr/^workerlife: too many requests in flight in one worker/, 'with the library\'s message');
    is($WorkerLife::ERROR_CODE, WorkerLife::WL_TOO_MANY_IN_FLIGHT, 'WL_TOO_MANY_IN_FLIGHT');
    $w->end_ticket(pop @t);
    ok(eval { push @t, $w->begin_ticket; 1 }, 'one ended makes room for one');
    $w->end_ticket($_) for @t;
    is($w->requests, WorkerLife::TICKETS + 65535 + 1, 'every one counted once');
};

subtest 'tickets from other threads' => sub {
    require threads;
    my ($pool, $w) = worker('max_requests=100');
    my @t = map { $w->begin_ticket } 1 .. 4;
    # The handle is thread-safe: each thread ends one request of its own.
    my @done = map { my $t = $_; threads->create(sub { $w->end_ticket($t) ? 'leave' : 'stay' }) } @t;
    is_deeply([ map { $_->join } @done ], [ ('stay') x 4 ], 'ended in four threads');
    is($w->requests, 4, 'each counted');
};

subtest 'the host capability "tickets"' => sub {
    my $policy = 'request_timeout=5s';
    eval { WorkerLife::Policy->parse($policy)->check_host('Threads', 'concurrent', 'master_kills') };
    like($@, qr/request_timeout=5s: Threads runs several requests at once .*begin_ticket/,
        'a concurrent host without tickets cannot time its requests');
    ok(eval { WorkerLife::Policy->parse($policy)->check_host('Threads', 'concurrent', 'master_kills', 'tickets'); 1 },
        'with tickets it can') or diag $@;
    my $pool = WorkerLife::Pool->new(policy => $policy, slots => 2);
    $pool->set_host('Threads', 'concurrent', 'master_kills', 'tickets');
    like($pool->startup_line, qr/the host has .*times each request/, 'named in the start-up line');
    is(WorkerLife::host_slots(4, undef, 'tickets'), WorkerLife::host_slots(4, undef), 'host_slots takes it');
};

subtest 'the vector runner catches a wrong ticket step' => sub {
    my $case = sub { return { policy => 'request_timeout=5s,max_requests=2', steps => [@_] } };
    ok(!defined Vectors::run_case($case->({ op => 'begin', ticket => 'a' }, { op => 'end', ticket => 'a' })), 'a right case passes');
    like(Vectors::run_case($case->({ op => 'begin', ticket => 'a', last => JSON::PP::true })), qr/last is false, expected true/,
        'a wrong last');
    like(Vectors::run_case($case->({ op => 'begin', ticket => 'a' }, { op => 'end', ticket => 'a' },
        { op => 'end', ticket => 'a' })), qr/step 2 .*not a request in flight/, 'an end that should have worked');
    like(Vectors::run_case($case->({ op => 'begin', ticket => 'a' }, { op => 'end', ticket => 'a', refused => JSON::PP::true })),
        qr/ended, expected refused/, 'an end that should have been refused');
    like(Vectors::run_case($case->({ op => 'end', ticket => 'x' })), qr/no ticket "x"/, 'a name never issued without raw');
    like(Vectors::run_case($case->({ op => 'begin', ticket => 'a' }, { op => 'advance', secs => 5 },
        { op => 'overdue', expect => [] })), qr/overdue \["a"\] \(1 tickets\), expected \[\]/, 'a wrong overdue');
};

done_testing;
