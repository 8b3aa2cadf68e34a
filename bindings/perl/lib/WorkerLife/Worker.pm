package WorkerLife::Worker;

use strict;
use warnings;

our @CARP_NOT = @WorkerLife::PACKAGES;

use Carp qw(croak);

# The C handle, for the raw calls (WorkerLife::Raw::wl_worker_*): what the
# Plack middleware's per-request path uses.
sub handle { return $_[0]{h} }

# Hot path: the handle is read straight from the object, and check is
# called only on failure (a Perl sub call is a third of the cost).
# A request starts; true when it should be the last this worker takes (it
# reaches max_requests): accept nothing new, finish, then leave.
sub begin {
    my $last = 0;
    my $rc = WorkerLife::Raw::wl_worker_begin_last($_[0]{h}, \$last);
    WorkerLife::Raw::check($rc) if $rc;
    return $last ? 1 : 0;
}

# True when the worker should leave after this request.
sub end {
    my $exit = 0;
    my $rc = WorkerLife::Raw::wl_worker_end($_[0]{h}, \$exit);
    WorkerLife::Raw::check($rc) if $rc;
    return $exit ? 1 : 0;
}

sub heartbeat { WorkerLife::Raw::check(WorkerLife::Raw::wl_worker_heartbeat($_[0]{h})); return }

# report_health(rss => BYTES, uss => ..., pss => ..., fds => N); absent keys
# leave a reading as it was.
sub report_health {
    my ($self, %h) = @_;
    my $none = 18446744073709551615;
    my %known = map { $_ => 1 } qw(rss uss pss fds);
    for (sort keys %h) { croak "workerlife: unknown reading \"$_\" (rss, uss, pss, fds)" unless $known{$_} }
    my $buf = pack $WorkerLife::Raw::LAYOUT{health},
        map { defined $h{$_} ? WorkerLife::Raw::whole("the $_ reading", $h{$_}) : $none } qw(rss uss pss fds);
    my ($ptr) = FFI::Platypus::Buffer::scalar_to_buffer($buf);
    WorkerLife::Raw::check(WorkerLife::Raw::wl_worker_report_health($self->{h}, $ptr));
    return;
}

# Samples this process from /proc, reports it, returns the sample hash.
sub sample_self {
    my ($self, $uss) = @_;
    my $buf = "\0" x $WorkerLife::Raw::SIZE{sample};
    my ($ptr) = FFI::Platypus::Buffer::scalar_to_buffer($buf);
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

sub DESTROY {
    my ($self) = @_;
    return if ($self->{tid} // 0) != WorkerLife::Raw::tid();
    WorkerLife::Raw::wl_worker_free($self->{h}) if $self->{h};
}

1;
