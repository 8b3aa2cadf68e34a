package WorkerLife::Worker;

use strict;
use warnings;

our @CARP_NOT = @WorkerLife::PACKAGES;

use Carp qw(croak);

# The C handle, for the raw calls (WorkerLife::Raw::wl_worker_*): what the
# Plack middleware's per-request path uses.
sub handle { return $_[0]{h} }

# begin and end are XS methods (WorkerLife.xs): one call each, no Perl in
# between. begin: a request starts; true when it should be the last this
# worker takes (it reaches max_requests): accept nothing new, finish, then
# leave. end: true when the worker should leave after this request.

sub heartbeat { WorkerLife::Raw::check(WorkerLife::Raw::wl_worker_heartbeat($_[0]{h})); return }

# The worker serves from an event loop that ends its own requests at
# request_timeout and beats from that loop: a request past its timeout then
# kills it only once the loop has also been still for half of that.
sub on_event_loop { WorkerLife::Raw::check(WorkerLife::Raw::wl_worker_on_event_loop($_[0]{h})); return }

# report_health(rss => BYTES, uss => ..., pss => ..., fds => N); absent keys
# leave a reading as it was.
sub report_health {
    my ($self, %h) = @_;
    my $none = 18446744073709551615;
    my %known = map { $_ => 1 } qw(rss uss pss fds);
    for (sort keys %h) { croak "workerlife: unknown reading \"$_\" (rss, uss, pss, fds)" unless $known{$_} }
    my $buf = pack $WorkerLife::Raw::LAYOUT{health},
        map { defined $h{$_} ? WorkerLife::Raw::whole("the $_ reading", $h{$_}) : $none } qw(rss uss pss fds);
    my ($ptr) = WorkerLife::Raw::scalar_to_buffer($buf);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_worker_report_health($self->{h}, $ptr));
    return;
}

# Samples this process from /proc, reports it, returns the sample hash.
sub sample_self {
    my ($self, $uss) = @_;
    my $buf = "\0" x $WorkerLife::Raw::SIZE{sample};
    my ($ptr) = WorkerLife::Raw::scalar_to_buffer($buf);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_worker_sample_self($self->{h}, $uss ? 1 : 0, $ptr));
    return WorkerLife::Raw::sample($buf);
}

sub check { WorkerLife::Raw::check(WorkerLife::Raw::wl_worker_check($_[0]{h}, $_[1] ? 1 : 0)); return }

sub decision { return WorkerLife::Raw::decision(\&WorkerLife::Raw::wl_worker_decision, $_[0]{h}) }

sub must_exit { return $_[0]->decision->must_exit }

sub requests {
    WorkerLife::Raw::check(WorkerLife::Raw::wl_worker_requests($_[0]{h}, \my $n));
    return $n;
}

sub slot {
    WorkerLife::Raw::check(WorkerLife::Raw::wl_worker_slot($_[0]{h}, \my $n));
    return $n;
}

# Marks the worker as leaving: its recycle permit returns at once.
sub exiting { WorkerLife::Raw::check(WorkerLife::Raw::wl_worker_exiting($_[0]{h})); return }

# $worker->watchdog(recycle_signal => 'TERM', interval => SECONDS): starts the
# worker's watchdog, a native thread (no Perl runs in it) that ends this
# process with SIGKILL on a kill decision (request_timeout,
# heartbeat_timeout...), even while Perl is stuck in C code, and, with
# recycle_signal, sends this process that signal once a recycle is granted.
# It also samples this process every sample_interval, and frees the slots
# (and, once the next worker there serves, the permits) of workers gone. It runs until the returned
# WorkerLife::Watchdog's stop(); destroying the object unstopped leaves the
# thread running for the life of the process.
sub watchdog {
    my ($self, %o) = @_;
    my %known = map { $_ => 1 } qw(recycle_signal interval);
    for (sort keys %o) { croak "workerlife: unknown watchdog option \"$_\"" unless $known{$_} }
    my $sig = defined $o{recycle_signal} ? WorkerLife::Raw::signal_number($o{recycle_signal}) : 0;
    my $ms = 0;
    if (defined $o{interval}) {
        my $secs = WorkerLife::Raw::seconds('interval', $o{interval});
        croak "workerlife: interval must be more than 0 and at most 60 seconds, not $o{interval}"
            unless $secs > 0 && $secs <= 60;
        $ms = int($secs * 1000 + 0.5) || 1;
    }
    WorkerLife::Raw::check(WorkerLife::Raw::wl_worker_watchdog($self->{h}, $sig, $ms, \my $h));
    return bless { h => $h, pid => $$, tid => WorkerLife::Raw::tid() }, 'WorkerLife::Watchdog';
}

sub DESTROY {
    my ($self) = @_;
    return if ($self->{tid} // 0) != WorkerLife::Raw::tid();
    WorkerLife::Raw::wl_worker_free($self->{h}) if $self->{h};
}

package WorkerLife::Watchdog;

use strict;
use warnings;

# Look at the slot now rather than at the next interval.
sub wake { WorkerLife::Raw::check(WorkerLife::Raw::wl_watchdog_wake($_[0]{h})) if $_[0]{h}; return }

# Stops the thread (in the process that started it) and frees the handle.
sub stop {
    my ($self) = @_;
    my $h = delete $self->{h} or return;
    WorkerLife::Raw::wl_watchdog_free($h);
    return;
}

sub running { return $_[0]{h} && $_[0]{pid} == $$ ? 1 : 0 }

sub DESTROY {
    my ($self) = @_;
    return if ($self->{tid} // 0) != WorkerLife::Raw::tid();
    my $h = delete $self->{h} or return;
    WorkerLife::Raw::wl_watchdog_detach($h);
}

1;
