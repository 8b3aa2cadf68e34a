#!/usr/bin/perl
# A plain Perl pre-fork HTTP server (no Plack) supervised by workerlife: the
# pattern of a Perl server that is not a PSGI one. The master forks N
# workers, ticks the pool every 50 ms and does what it says: spawn (fork,
# then spawned), recycle (SIGTERM: the worker finishes its request and
# leaves), kill (SIGKILL), all through the identity-checked
# WorkerLife::kill; it reaps children and reports their exits. Workers count
# every request and leave after the response when told to.
#
#   make perl
#   WORKERLIFE_POLICY='max_requests=100,request_timeout=5s' \
#     PERL5LIB=bindings/perl/blib/arch:bindings/perl/blib/lib \
#     perl examples/perl/prefork_server.pl 8080 4
#
# The master declares its host to the library: it kills (master_kills),
# forks each worker into the slot a spawn names (numbered), and starts a
# replacement when one is asked for (surge); its workers send no heartbeat,
# so heartbeat_timeout is refused at start, naming the key. Errors of its
# round are logged once, then counted (round_error); events as the
# library's line.
#
# GET / answers "PID REQUESTS"; /hang never answers (for request_timeout).
# SIGTERM or SIGINT stops the server and its workers.
use strict;
use warnings;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);
use WorkerLife;

my ($port, $workers) = (@ARGV, 8080, 2)[0, 1];
my @caps = qw(master_kills numbered surge);
my $policy = WorkerLife::Policy->parse($ENV{WORKERLIFE_POLICY} // '');
$policy->check_host('Perl prefork example', @caps);    # a bad setting stops the start
my $listen = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port", Listen => 128, ReuseAddr => 1)
    or die "listen on $port: $!\n";
# Room for the workers, plus any max_surge replacements: the library's rule.
my $pool = WorkerLife::Pool->new(policy => $policy, slots => WorkerLife::host_slots($workers, $policy, @caps), shared => 1);
$pool->set_host('Perl prefork example', @caps);
my %children;    # pid => identity (the master's own record: whom it may signal)
my $stopping = 0;
$SIG{TERM} = $SIG{INT} = sub { $stopping = 1 };
$| = 1;
print $pool->startup_line, "\n";
print "listening on 127.0.0.1:$port with $workers workers\n";

sub serve {
    my ($slot) = @_;
    my $w = $pool->slot($slot);
    my $leave = 0;
    $SIG{TERM} = sub { $leave = 1 };    # graceful: finish the request, then go
    $SIG{INT} = 'DEFAULT';
    $pool->ready($slot);
    until ($leave) {
        my $c = $listen->accept or next;    # EINTR on SIGTERM: look at $leave
        my $line = <$c> // next;
        while (my $h = <$c>) { last if $h =~ /^\r?\n\z/ }
        my ($path) = $line =~ m{^GET (\S+)};
        my $last = $w->begin;
        sleep 3600 if ($path // '') eq '/hang';
        my $body = "$$ " . ($w->requests + 1) . "\n";
        print $c "HTTP/1.0 200 OK\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
        close $c;
        $leave ||= $w->end || $last;
    }
    POSIX::_exit(0);
}

until ($stopping) {
    # A master outlives a bad round: say so (each error once, then
    # counted), and tick again.
    my @actions = eval { $pool->tick };
    if ($@) {
        my $line = $pool->round_error("tick: $@");
        print "workerlife: $line (supervision goes on)\n" if defined $line;
    }
    for my $a (@actions) {
        if ($a->{action} eq 'spawn') {
            my $pid = fork // die "fork: $!";
            serve($a->{slot}) if $pid == 0;
            $pool->spawned($a->{slot}, $pid);
            $children{$pid} = WorkerLife::identity($pid);
        } elsif ($children{ $a->{pid} }) {
            my $sig = $a->{action} eq 'kill' ? 'KILL' : 'TERM';
            print "$a->{action} worker $a->{pid} (slot $a->{slot}): $a->{reason}\n";
            eval { WorkerLife::kill($a->{pid}, $sig, $a->{identity}) };    # gone meanwhile: nothing sent
        }
    }
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
        delete $children{$pid};
        eval { $pool->exited($pid, $?) };
    }
    print "workerlife: $_->{line}\n" for $pool->events;
    sleep 0.05;
}
for my $pid (keys %children) { eval { WorkerLife::kill($pid, 'TERM', $children{$pid}) } }
sleep 0.2;
for my $pid (keys %children) { eval { WorkerLife::kill($pid, 'KILL', $children{$pid}) } }
1 while waitpid(-1, 0) > 0;
print "stopped\n";
